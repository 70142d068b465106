"""polopt's update rules at LLM scale: a JAX decoder on a device mesh.

Modules (import them by name; nothing heavy is imported here)::

    gpu.mesh       (data, fsdp, tp) mesh in Auto mode, parameter partition rules, sharding checks
    gpu.model      decoder-only transformer (params pytree + pure apply) and the Policy interface
    gpu.logprobs   float32 per-token / per-sequence log-probabilities, chunked over the sequence
    gpu.generate   jitted sampling with a KV cache
    gpu.train      optax optimizer, the one jitted sharded train step, ``python -m gpu.train``
    gpu.bench      tokens/s, TFLOP/s, MFU, log-prob bandwidth, decode rate: ``python -m gpu.bench``

Data flows one way: ``gpu`` imports ``polopt``, never the reverse.
"""
