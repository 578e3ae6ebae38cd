"""What the tiny-model generators share: gguf-py (from deps/llama.cpp, extracted by
scripts/fetch-ggml.mjs), HF dtypes and rounding, the safetensors writer, --set / --drop."""
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = os.path.basename(sys.argv[0]) or "tinymodels"
sys.path.insert(0, os.path.join(ROOT, "deps", "llama.cpp", "gguf-py"))
try:
    import gguf  # noqa: E402
except ImportError:
    sys.exit(f"{PROG}: gguf-py is missing; run `node scripts/fetch-ggml.mjs` first")

# --type name -> (safetensors dtype, config.json torch_dtype)
HF_DTYPES = {"f32": ("F32", "float32"), "f16": ("F16", "float16"), "bf16": ("BF16", "bfloat16")}


def bf16_bits(x):
    """float32 -> bfloat16 bits, rounded to nearest even as torch and gguf-py round."""
    return gguf.quants.quantize(x, gguf.GGMLQuantizationType.BF16).view(np.uint16)


def round_to(type_name, x):
    """x (float32) rounded to the HF file's dtype and back; other types keep float32."""
    if type_name == "f16":
        return x.astype(np.float16).astype(np.float32)
    if type_name == "bf16":
        return (bf16_bits(x).astype(np.uint32) << 16).view(np.float32)
    return x


def hf_bytes(type_name, x):
    """x (float32, already rounded) as the HF file stores it: float16, bfloat16 bits or float32."""
    if type_name == "f16":
        return x.astype(np.float16)
    if type_name == "bf16":
        return bf16_bits(x)
    return x


def write_safetensors(path, tensors, dtype):
    """The safetensors layout as the reference library writes it: u64 header length, a compact
    JSON header (__metadata__ first, tensors ordered by name, 8-byte padding with spaces), data.
    tensors: name -> (shape, array) in `dtype`, or (shape, array, own dtype) for a tensor of
    another dtype (an I64 buffer)."""
    names = sorted(tensors)
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in names:
        shape, data = tensors[name][:2]
        n = data.nbytes
        own = tensors[name][2] if len(tensors[name]) > 2 else dtype
        header[name] = {"dtype": own, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in names:
            f.write(np.ascontiguousarray(tensors[name][1]).tobytes())
    return offset


def write_json(path, value, sort_keys=True):
    """A JSON file as transformers' save_pretrained writes one: indent 2, a final newline."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")


OVERRIDE_TYPES = {
    "u32": gguf.GGUFValueType.UINT32, "i32": gguf.GGUFValueType.INT32, "u64": gguf.GGUFValueType.UINT64,
    "f32": gguf.GGUFValueType.FLOAT32, "f64": gguf.GGUFValueType.FLOAT64, "bool": gguf.GGUFValueType.BOOL,
    "str": gguf.GGUFValueType.STRING, "arr": gguf.GGUFValueType.ARRAY,
}


def add_override_args(ap):
    ap.add_argument("--set", action="append", default=[], metavar="KEY=TYPE:JSON", help="write a metadata value (hostile files)")
    ap.add_argument("--drop", action="append", default=[], metavar="KEY", help="leave a metadata key out")


def apply_overrides(w, args):
    """--drop KEY, then --set KEY=TYPE:JSON, on the GGUF writer's metadata (tensors unchanged)."""
    for key in args.drop:
        w.remove_key(key)
    for item in args.set:
        key, _, typed = item.partition("=")
        kind, _, text = typed.partition(":")
        if kind not in OVERRIDE_TYPES or not key:
            sys.exit(f"{PROG}: --set {item!r}: expected KEY=TYPE:JSON with TYPE one of {', '.join(OVERRIDE_TYPES)}")
        value = json.loads(text)
        if kind == "arr" and any(isinstance(x, float) for x in value):
            value = [float(x) for x in value]  # one element type per array (F32)
        w.remove_key(key)
        w.add_key_value(key, value, OVERRIDE_TYPES[kind])
