"""Prompt techniques: rewrite a request with the prompt-engineering techniques its intent calls
for, deterministically and without touching what the user wrote.

>>> from techniques import enhance
>>> prompt = enhance("If 3 pens cost 4.50, what do 7 cost?", "reasoning")
>>> [t.id for t in prompt.techniques]
['zero_shot', 'chain_of_thought', 'structured_output']

The catalogue, the selection rules, the few-shot bank and the complexity weights are data in
``conf/techniques/`` (see its README); the intent labels come from ``conf/intents.yaml``. The
environment variable ``TECHNIQUES_CONF_DIR`` points the library at another folder with that
layout. The functions here use :func:`default_library`; build a :class:`TechniqueLibrary`
directly to work with another configuration.
"""

from techniques.assembly import TechniqueRef, extract_user_input
from techniques.client import Classification, IntentClassifier, enhance_with_client
from techniques.config import CONF_DIR_ENV, conf_dir
from techniques.errors import TechniqueConfigError
from techniques.library import (
    EnhancedPrompt,
    TechniqueLibrary,
    default_library,
    enhance,
    estimate_complexity,
    select_techniques,
)
from techniques.rules import COMPLEXITIES, Complexity

__all__ = [
    "COMPLEXITIES",
    "CONF_DIR_ENV",
    "Classification",
    "Complexity",
    "EnhancedPrompt",
    "IntentClassifier",
    "TechniqueConfigError",
    "TechniqueLibrary",
    "TechniqueRef",
    "conf_dir",
    "default_library",
    "enhance",
    "enhance_with_client",
    "estimate_complexity",
    "extract_user_input",
    "select_techniques",
]
