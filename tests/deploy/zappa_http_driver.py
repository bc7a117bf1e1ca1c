"""Run in a subprocess by test_zappa_http.py: API Gateway requests through Zappa's real
handler, with the production settings (Django can be set up only once per process).

argv: settings module dir, settings module name; stdin: a JSON list of API Gateway events;
stdout: a JSON list of Zappa's responses."""

import json
import sys

sys.path.insert(0, sys.argv[1])
from zappa.handler import LambdaHandler  # noqa: E402

handler = LambdaHandler(sys.argv[2])
print(json.dumps([handler.handler(event, None) for event in json.load(sys.stdin)]))
