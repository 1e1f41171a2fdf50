"""The facts every package of the project shares, written once.

Torch-free and tiny: the training side, the TorchServe handler (the archive carries this
package), the serving client, the technique library and the API all import it, and it imports
none of them.

>>> from contract import MODEL_NAME, check_text, load_labels
>>> MODEL_NAME
'intent_classifier'
>>> load_labels()[2]
'code_generation'
"""

from contract.files import sha256_file
from contract.inputs import MAX_BODY_BYTES, MAX_TEXT_CHARS, InvalidText, check_text, is_blank
from contract.keys import KEY_FILE_ENV, default_key_file, find_key_file, read_key
from contract.labels import id2label, label2id, load_labels
from contract.paths import PROJECT_ROOT_ENV, conf_dir, project_root
from contract.schema import MODEL_NAME, PREDICTION_FIELDS, check_prediction

__all__ = [
    "KEY_FILE_ENV",
    "MAX_BODY_BYTES",
    "MAX_TEXT_CHARS",
    "MODEL_NAME",
    "PREDICTION_FIELDS",
    "PROJECT_ROOT_ENV",
    "InvalidText",
    "check_prediction",
    "check_text",
    "conf_dir",
    "default_key_file",
    "find_key_file",
    "id2label",
    "is_blank",
    "label2id",
    "load_labels",
    "project_root",
    "read_key",
    "sha256_file",
]
