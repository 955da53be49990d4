"""LLM backends behind one protocol (``generate(requests) -> completions``), the response cache and the client."""
