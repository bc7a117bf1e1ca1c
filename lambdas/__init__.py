"""Lambda handlers, one module per trigger. Thin: parse the payload, call one service.

In production the EventBridge rules in infra/ deliver ``{"command": "lambdas.<module>.handler",
"detail": {...}}`` to the Zappa function, which calls ``handler(payload, context)``; the
local runner delivers the very same payload from the rule's stand-in SQS queue.
These modules import no Django: cold starts stay cheap."""
