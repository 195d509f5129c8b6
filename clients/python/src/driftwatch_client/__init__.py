"""driftwatch-client: send prediction events and labels to driftwatch.

    from driftwatch_client import Client
    client = Client("http://127.0.0.1:8080", api_key=None)
    event_id = client.log({"model": "fraud", "features": {"amount": 12.5}, "prediction": 0.1})
    client.label(event_id, "fraud", 0)
    client.flush()
"""

from ._client import Client
from ._timing import Prediction, error_type, timed_function

__all__ = ["Client", "Prediction", "error_type", "timed_function"]
__version__ = "0.1.0"
