"""Convert a built-in GGUF model (or a ``.gguf`` path) into a Hugging Face model directory, for engines that
need one (vLLM). The directory lives in the model cache, keyed by the GGUF file's hash, and is written once::

    python -m expobench.agents.llm.hf_export smollm2-135m-instruct     # prints the directory

Needs ``transformers``, ``gguf`` and ``accelerate`` (installed by ``make test-vllm``); the GGUF weights are
dequantised to float32. Nothing is downloaded.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from expobench.agents.llm.models import resolve_model
from expobench.settings import cache_root


def export_hf(model: str) -> Path:
    """The Hugging Face directory of ``model`` (built-in name or ``.gguf`` path), converting it on first use."""
    gguf, digest = resolve_model(model)
    dest = cache_root() / "hf" / f"{gguf.stem}-{digest[:12]}"
    if (dest / "config.json").exists():
        return dest
    try:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise SystemExit("converting a GGUF model needs transformers, gguf and accelerate "
                         "(pip install transformers gguf accelerate)") from None
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # a model loaded from GGUF is marked quantised and refuses save_pretrained: copy its (dequantised) weights
    # into a plain model built from the same config
    state = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).state_dict()
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    hf_model = AutoModelForCausalLM.from_config(config)
    hf_model.load_state_dict(state)
    hf_model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m expobench.agents.llm.hf_export MODEL", file=sys.stderr)
        return 2
    print(export_hf(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
