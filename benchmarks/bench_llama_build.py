"""Prompt and generation throughput of the installed llama.cpp build (llama-cpp-python), with llama.cpp's extra
CPU buffer types (weight repacking, AMX) on and off.

    python benchmarks/bench_llama_build.py [--model PATH.gguf] [--threads 2] [--repeats 3]

Run it with the Python of each build to compare (e.g. the portable x86-64-v3 build in .venv against a native
build in another venv): it imports only llama_cpp (and, without --model, the project to find the test model), so
any venv with llama-cpp-python works. Prints the build's features, then tokens/s (median of --repeats) for a
~400-token prompt evaluated from an empty KV cache and for 32 generated tokens.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

PROMPT = ("You are choosing among five buttons: blue, green, red, yellow and purple. " * 4 +
          "So far: " + "; ".join(f"round {i}: pressed {c}, reward {i % 2}" for i, c in
                                 enumerate(["blue", "green", "red", "yellow", "purple"] * 5)) +
          ". Which button next? Answer with one colour.")


def load(model: str, threads: int, extra_bufts: bool):
    import llama_cpp.llama_cpp as native
    from llama_cpp import Llama

    default_params = native.llama_model_default_params

    def params():
        p = default_params()
        p.use_extra_bufts = extra_bufts
        return p

    native.llama_model_default_params = params
    try:
        return Llama(model_path=model, n_ctx=1024, n_threads=threads, n_batch=512, verbose=False)
    finally:
        native.llama_model_default_params = default_params


def measure(llm, repeats: int) -> tuple[float, float, int]:
    tokens = llm.tokenize(PROMPT.encode())
    prompt_rates, gen_rates = [], []
    for _ in range(repeats):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        prompt_rates.append(len(tokens) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(32):
            token = llm.sample(temp=0.0)
            llm.eval([token])
        gen_rates.append(32 / (time.perf_counter() - t0))
    return statistics.median(prompt_rates), statistics.median(gen_rates), len(tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None, help="GGUF file (default: the shipped SmolLM2 test model)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    model = args.model
    if model is None:
        from expobench.agents.llm.models import resolve_model

        model = str(resolve_model("smollm2-135m-instruct")[0])
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode().strip()
    print(f"llama-cpp-python {llama_cpp.__version__} on {platform.machine()}: {info}")
    print(f"model {os.path.basename(model)}, {args.threads} threads, median of {args.repeats}")
    for extra in (True, False):
        prompt, gen, n = measure(load(model, args.threads, extra), args.repeats)
        print(f"extra buffer types {'on ' if extra else 'off'}: prompt {prompt:7.1f} tok/s ({n} tokens), "
              f"generation {gen:6.1f} tok/s")


if __name__ == "__main__":
    main()
