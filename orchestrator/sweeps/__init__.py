"""The sweep protocol: a walker's variants planned, cut into chunks, submitted to the
farm's workers, collected once each, tallied and ranked.

Named ``sweeps`` (not ``sweep``) so it never shadows the public ``sweep()`` that
``btfarm.orchestrator`` exports.
"""
