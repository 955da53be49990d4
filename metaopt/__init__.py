"""Meta-prompt optimisers (fixed, EXPO, EXPO-ES, GPO, OPRO-style, baselines; ``expobench.metaopt.registry``),
their score networks, text embeddings and candidate pools."""
