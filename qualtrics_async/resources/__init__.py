"""Resource namespaces of the client, one module per API family."""

from qualtrics_async.resources.surveys import Surveys

__all__ = ["Surveys"]
