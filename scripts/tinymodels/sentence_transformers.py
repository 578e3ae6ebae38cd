"""sentence-transformers' module files in an HF model directory, as SentenceTransformer.save
writes them: modules.json, sentence_bert_config.json, a Pooling module's config.json, a Dense
module's config.json and model.safetensors (linear.weight, no bias), config_sentence_transformers.json.
Shared by make-tiny-encoder (Transformer, Pooling[, Normalize]) and make-tiny-gemma's
gemma-embedding (Transformer, Pooling, Dense, Dense, Normalize)."""
import os

from .common import write_json, write_safetensors

POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken")
IDENTITY = "torch.nn.modules.linear.Identity"


def write_modules(out, modules):
    """modules.json: modules is a list of (class name, folder), the Transformer's folder being ""."""
    entries = [{"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
               for i, (kind, path) in enumerate(modules)]
    write_json(os.path.join(out, "modules.json"), entries, sort_keys=False)


def write_sentence_bert_config(out, max_seq_length):
    write_json(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": max_seq_length, "do_lower_case": False},
               sort_keys=False)


def write_pooling(out, folder, dim, mode):
    """A Pooling module's config.json; mode: "cls" or "mean"."""
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    on = {"cls": "cls_token", "mean": "mean_tokens"}[mode]
    config = {"word_embedding_dimension": dim}
    config.update({f"pooling_mode_{m}": m == on for m in POOLING_MODES})
    config["include_prompt"] = True
    write_json(os.path.join(out, folder, "config.json"), config, sort_keys=False)


def write_dense(out, folder, weight, dtype):
    """A Dense module without bias and with the identity activation: config.json and
    model.safetensors holding linear.weight, weight = (shape (out_features, in_features), array
    in `dtype`)."""
    os.makedirs(os.path.join(out, folder), exist_ok=True)
    (n_out, n_in), _ = weight
    config = {"in_features": n_in, "out_features": n_out, "bias": False, "activation_function": IDENTITY}
    write_json(os.path.join(out, folder, "config.json"), config, sort_keys=False)
    write_safetensors(os.path.join(out, folder, "model.safetensors"), {"linear.weight": weight}, dtype)


def write_st_config(out, prompts, versions):
    """config_sentence_transformers.json with named prompts, no default prompt, cosine similarity."""
    config = {"model_type": "SentenceTransformer", "__version__": versions, "prompts": prompts,
              "default_prompt_name": None, "similarity_fn_name": "cosine"}
    write_json(os.path.join(out, "config_sentence_transformers.json"), config, sort_keys=False)
