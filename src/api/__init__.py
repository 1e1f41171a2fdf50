"""The intent API: an HTTP service that classifies a prompt and returns a better one.

```bash
INTENT_API_KEYS=<key> python -m api          # uvicorn on 127.0.0.1:8000; make api does it too
curl -s -H "Authorization: Bearer <key>" -H 'Content-Type: application/json' \\
  -d '{"text": "Write a haiku about rain"}' http://127.0.0.1:8000/v1/classify
```

``create_app(settings)`` builds the ASGI app; the API's settings are ``api.settings``, the
TorchServe side is the serving client's (``TORCHSERVE_*``, ``USE_TORCHSERVE``).
"""

from api.app import create_app
from api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
