"""Decision makers: classical baselines and LLM agents (``expobench.agents.registry`` lists the kinds); LLM
backends, requests, the response cache and the client under ``expobench.agents.llm``."""
