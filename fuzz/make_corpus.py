"""Writes the seed corpora under fuzz/corpus/<target>/ (standard library only).

    python3 fuzz/make_corpus.py

Small, real-shaped inputs for each target: QA lines, model replies, GGUF files (a tiny LLaMA
with a byte-level BPE tokenizer, one with a SentencePiece tokenizer, every metadata type, and
the quantized fixture vlm/tests/fixtures/quant.gguf), safetensors files in each dtype we read,
PNGs and baseline JPEGs in several colour types, training TOMLs (the shipped recipes), and
OpenAI-style streams. The fuzzer's own finds are kept outside the repository (scripts/fuzz.sh).
"""
import json
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- QA JSON Lines -------------------------------------------------------------------------

def qa():
    lines = [
        {"image": "pushpins/test/logical_anomalies/000.png", "question": "Is there any defect?",
         "answer": "Yes: the cell in row 1, column 2 is empty.", "source": "manual",
         "anomaly": "missing pushpin", "region": {"x": 0.21, "y": 0.22, "w": 0.17, "h": 0.19}},
        {"image": "good/000.png", "question": "Is there any defect?", "answer": "No.",
         "source": "generated_verified"},
        {"image": "bad/001.png", "question": "Describe the defect.",
         "answer": "A scratch runs across the cap — about 2 mm.", "source": "manual",
         "region": {"x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0}},
    ]
    put("qa_jsonl", "annotations.jsonl", "\n".join(json.dumps(l, ensure_ascii=False) for l in lines) + "\n")
    put("qa_jsonl", "crlf-and-blank.jsonl", "\r\n".join(json.dumps(l) for l in lines[1:]) + "\r\n\r\n")
    put("qa_jsonl", "errors.jsonl",
        '{"image":"x.png","question":" ","answer":"a","source":"manual"}\n'
        '{"image":"x.png","question":"q","answer":"a","source":"robot"}\n'
        '{"image":"x.png","question":"q","answer":"a","source":"manual","extra":1}\n'
        '{"image":"x.png","question":"q","answer":"a","source":"manual","region":{"x":0.9,"y":0,"w":0.5,"h":1}}\n'
        'not json\n')


# --- Model replies ---------------------------------------------------------------------------

def verdict():
    replies = {
        "verdict-line.txt": "Step 1: The template shows four pushpins. Step 2: The test image lacks one. "
                            "Step 3: This is a defect.\nVerdict: anomalous",
        "bold-marker.txt": "**Verdict:** normal",
        "leading-no.txt": "No, there are no defects in this image.",
        "negated.txt": "The pins are not bent and the housing isn't cracked.",
        "none-list.txt": "Defects: none",
        "hedge.txt": "I cannot determine whether there is a defect from this image.",
        "steps.txt": "Step 2: The test image shows a missing pushpin in row 2. Step 3: After comparison, "
                     "this is just a shadow; the test image is normal.",
        "german.txt": "Kein Defekt erkennbar.",
        "chinese.txt": "图像中存在异常：缺少一个螺丝。",
        "case-folding.txt": "İİİ VERDICT: ANOMALOUS ẞ",
    }
    for name, text in replies.items():
        put("verdict", name, text)


# --- GGUF ------------------------------------------------------------------------------------

def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gvalue(kind, v):
    fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
           11: "<q", 12: "<d"}
    if kind == 8:
        return gstr(v)
    if kind == 9:
        item, items = v
        return struct.pack("<IQ", item, len(items)) + b"".join(gvalue(item, x) for x in items)
    return struct.pack(fmt[kind], v)


def f16(x):
    return struct.pack("<e", x)


def bf16(x):
    return struct.pack("<f", x)[2:]


def gguf(kvs, tensors, alignment=32):
    """kvs: [(key, kind, value)]; tensors: [(name, shape (row-major), kind, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, kind, v in kvs:
        out += gstr(key) + struct.pack("<I", kind) + gvalue(kind, v)
    offset, blobs = 0, b""
    for name, shape, kind, data in tensors:
        out += gstr(name) + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", n) for n in reversed(shape))
        out += struct.pack("<IQ", kind, offset)
        pad = (-len(data)) % alignment
        blobs += data + b"\0" * pad
        offset += len(data) + pad
    out += b"\0" * ((-len(out)) % alignment)
    return out + blobs


def floats(n, pack=lambda x: struct.pack("<f", x)):
    return b"".join(pack((i % 7 - 3) / 4) for i in range(n))


def q8_0(n):
    return b"".join(f16(0.5) + bytes((i * 37) % 256 for i in range(32)) for _ in range(n // 32))


def llama_kvs(n_vocab):
    return [
        ("general.architecture", 8, "llama"),
        ("general.alignment", 4, 32),
        ("llama.block_count", 4, 1),
        ("llama.context_length", 4, 64),
        ("llama.embedding_length", 4, 8),
        ("llama.feed_forward_length", 4, 16),
        ("llama.attention.head_count", 4, 2),
        ("llama.attention.head_count_kv", 4, 1),
        ("llama.rope.freq_base", 6, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
        ("llama.vocab_size", 4, n_vocab),
    ]


def llama_tensors(n_vocab):
    return [
        ("token_embd.weight", [n_vocab, 8], 0, floats(n_vocab * 8)),
        ("blk.0.attn_norm.weight", [8], 0, floats(8)),
        ("blk.0.attn_q.weight", [8, 8], 1, floats(64, f16)),
        ("blk.0.attn_k.weight", [4, 8], 30, floats(32, bf16)),
        ("blk.0.attn_v.weight", [4, 8], 0, floats(32)),
        ("blk.0.ffn_down.weight", [8, 32], 8, q8_0(256)),
        ("output_norm.weight", [8], 0, floats(8)),
    ]


def gguf_seeds():
    shutil.copy(os.path.join(ROOT, "vlm/tests/fixtures/quant.gguf"),
                os.path.join(CORPUS, "gguf_header", "quant.gguf"))
    bpe = ["a", "b", "c", "ab", "<|im_start|>", "<|im_end|>", "\u0120", "\u0120a"]
    put("gguf_header", "llama-bpe.gguf", gguf(llama_kvs(len(bpe)) + [
        ("tokenizer.ggml.model", 8, "gpt2"),
        ("tokenizer.ggml.pre", 8, "smollm"),
        ("tokenizer.ggml.tokens", 9, (8, bpe)),
        ("tokenizer.ggml.token_type", 9, (5, [1, 1, 1, 1, 3, 3, 1, 1])),
        ("tokenizer.ggml.merges", 9, (8, ["a b", "\u0120 a"])),
        ("tokenizer.ggml.bos_token_id", 4, 4),
        ("tokenizer.ggml.eos_token_id", 4, 5),
        ("tokenizer.ggml.add_bos_token", 7, True),
        ("tokenizer.chat_template", 8, "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}"),
    ], llama_tensors(len(bpe))))
    spm = ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a", "ab", "<0x0A>"]
    put("gguf_header", "llama-spm.gguf", gguf(llama_kvs(len(spm)) + [
        ("tokenizer.ggml.model", 8, "llama"),
        ("tokenizer.ggml.tokens", 9, (8, spm)),
        ("tokenizer.ggml.scores", 9, (6, [0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -1.5, -3.0, 0.0])),
        ("tokenizer.ggml.token_type", 9, (5, [2, 3, 3, 1, 1, 1, 1, 1, 6])),
        ("tokenizer.ggml.unknown_token_id", 4, 0),
        ("tokenizer.ggml.bos_token_id", 4, 1),
        ("tokenizer.ggml.eos_token_id", 4, 2),
        ("tokenizer.ggml.add_space_prefix", 7, False),
    ], llama_tensors(len(spm))))
    every_type = [(f"t{k}", k, v) for k, v in [
        (0, 200), (1, -5), (2, 60000), (3, -300), (4, 1 << 31), (5, -(1 << 30)), (6, 0.25),
        (7, False), (8, "text \u00e9"), (10, 1 << 40), (11, -(1 << 40)), (12, 1e300)]]
    every_type.append(("tarr", 9, (4, [1, 2, 3])))
    every_type.append(("general.alignment", 4, 64))
    put("gguf_header", "every-type.gguf", gguf(every_type, [("x", [2, 3], 0, floats(6))], 64))


# --- safetensors -----------------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((-len(head)) % 8)
    return struct.pack("<Q", len(head)) + head + data


def safetensors_seeds():
    put("safetensors_header", "float-dtypes.safetensors", safetensors([
        ("a.weight", "F32", [2, 3], floats(6)),
        ("b.weight", "F16", [3, 2], floats(6, f16)),
        ("c.bias", "BF16", [4], floats(4, bf16)),
    ], {"format": "pt"}))
    put("safetensors_header", "ints-and-edges.safetensors", safetensors([
        ("ids", "I64", [2], struct.pack("<qq", 1, -2)),
        ("bytes", "U8", [3], b"\1\2\3"),
        ("empty", "F32", [0, 4], b""),
        ("scalar", "F32", [], floats(1)),
    ]))
    put("safetensors_header", "empty.safetensors", safetensors([]))


# --- Images ----------------------------------------------------------------------------------

def png(width, height, colour, depth, rows, palette=None, trns=None):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", palette)
    if trns:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png_seeds():
    w, h = 5, 4
    px = lambda x, y, n: bytes(((x * 50 + y * 30 + c * 80) % 256) for c in range(n))
    for name, colour, n in [("rgb", 2, 3), ("rgba", 6, 4), ("grey", 0, 1), ("grey-alpha", 4, 2)]:
        rows = [b"".join(px(x, y, n) for x in range(w)) for y in range(h)]
        put("upload_image", f"{name}.png", png(w, h, colour, 8, rows))
    rows16 = [b"".join(struct.pack(">HHH", x * 9000, y * 9000, 40000) for x in range(w)) for y in range(h)]
    put("upload_image", "rgb16.png", png(w, h, 2, 16, rows16))
    rows_pal = [bytes([(x + y) % 4 for x in range(w)]) for y in range(h)]
    put("upload_image", "palette.png", png(w, h, 3, 8, rows_pal,
                                           palette=bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]),
                                           trns=bytes([255, 128])))
    put("upload_image", "tall.png", png(1, 40, 0, 8, [bytes([y * 6]) for y in range(40)]))


# A baseline JPEG writer for flat 8x8 blocks: only DC coefficients (every block one colour),
# the standard DC Huffman tables and an AC table holding just end-of-block.
DC_LUMA = ([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], list(range(12)))
DC_CHROMA = ([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], list(range(12)))
AC_EOB = ([1] + [0] * 15, [0])


def huff_codes(table):
    counts, symbols = table
    codes, code, k = {}, 0, 0
    for length, n in enumerate(counts, start=1):
        for _ in range(n):
            codes[symbols[k]] = (code, length)
            code, k = code + 1, k + 1
        code <<= 1
    return codes


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def done(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)
        return bytes(self.out)


def jpeg(width, height, components, block_value):
    """components: [(id, h, v, dc table index)]; block_value(c, bx, by) -> 0..255."""
    seg = lambda marker, body: bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    out = b"\xff\xd8" + seg(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    out += seg(0xDB, b"\x00" + bytes([1] * 64))
    sof = struct.pack(">BHHB", 8, height, width, len(components))
    sof += b"".join(bytes([cid, (h << 4) | v, 0]) for cid, h, v, _ in components)
    out += seg(0xC0, sof)
    tables = [DC_LUMA, DC_CHROMA]
    for i, t in enumerate(tables[: 1 + (len(components) > 1)]):
        out += seg(0xC4, bytes([i]) + bytes(t[0]) + bytes(t[1]))
        out += seg(0xC4, bytes([0x10 | i]) + bytes(AC_EOB[0]) + bytes(AC_EOB[1]))
    sos = bytes([len(components)]) + b"".join(bytes([cid, (t << 4) | t]) for cid, _, _, t in components)
    out += seg(0xDA, sos + b"\x00\x3f\x00")
    hmax = max(c[1] for c in components)
    vmax = max(c[2] for c in components)
    mcus_x = -(-width // (8 * hmax))
    mcus_y = -(-height // (8 * vmax))
    bits, pred = Bits(), [0] * len(components)
    ac = huff_codes(AC_EOB)
    for my in range(mcus_y):
        for mx in range(mcus_x):
            for ci, (_, h, v, t) in enumerate(components):
                dc = huff_codes(tables[t])
                for by in range(v):
                    for bx in range(h):
                        value = 8 * (block_value(ci, mx * h + bx, my * v + by) - 128)
                        diff, pred[ci] = value - pred[ci], value
                        size = abs(diff).bit_length()
                        bits.put(*dc[size])
                        if size:
                            bits.put(diff if diff > 0 else diff + (1 << size) - 1, size)
                        bits.put(*ac[0])
    return out + bits.done() + b"\xff\xd9"


def jpeg_seeds():
    put("upload_image", "grey.jpg", jpeg(16, 8, [(1, 1, 1, 0)], lambda c, x, y: 40 + 100 * x))
    put("upload_image", "colour-420.jpg", jpeg(
        24, 16, [(1, 2, 2, 0), (2, 1, 1, 1), (3, 1, 1, 1)],
        lambda c, x, y: [60 + 30 * x + 20 * y, 100, 180][c]))


# --- Training configurations -----------------------------------------------------------------

def train_config_seeds():
    for name in ["stage1.toml", "stage2.toml", "tower-pretrain.toml"]:
        with open(os.path.join(ROOT, "models/default", name)) as f:
            put("train_config", name, f.read().replace("@SPLIT@", "s1001-f0.1"))
    put("train_config", "minimal.toml", 'base_model = "tiny-llava"\ndataset = "demo"\nsplit = "s0-f0.1"\n')
    put("train_config", "doc-example.toml",
        'base_model = "tiny-llava"\ndataset = "demo"\nsplit = "s0-f0.1"\nname = "tiny-llava-qa"\n'
        'device = "wgpu:1"\nanomaly_repeat = 8\n\n[training]\nepochs = 30\nlearning_rate = 1e-4\n'
        '[training.lora]\nrank = 8\ntargets = ["q_proj", "k_proj", "v_proj", "o_proj"]\n')


# --- OpenAI-compatible streams (the first byte picks the chunking) ---------------------------

def chunk(content=None, finish=None, **extra):
    c = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
         "choices": [{"index": 0, "delta": {} if content is None else {"content": content},
                      "finish_reason": finish}]}
    c.update(extra)
    return "data: " + json.dumps(c, ensure_ascii=False) + "\n\n"


def openai_stream_seeds():
    put("openai_stream", "stream-done", b"\x07" + (
        chunk("Verdict") + chunk(": anomal") + ": keep-alive\n\n" + chunk("ous é", "stop")
        + 'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}\n\n'
        + "data: [DONE]\n\n").encode())
    put("openai_stream", "crlf-no-done", b"\x03" + (
        chunk("No", system_fingerprint="fp_1").replace("\n", "\r\n") + chunk(None, "length")
        + "data: tail-without-blank-line").encode())
    put("openai_stream", "openai-error", b"\x01" + (
        chunk("a") + 'event: error\ndata: {"error":{"message":"overloaded"}}\n\n').encode())
    put("openai_stream", "vllm-error", b"\x00" + (
        'data: {"object":"error","message":"bad request"}\n\n').encode())
    put("openai_stream", "ollama-error", b"\x05" + (
        'data: {"error":"model not found"}\n\nid: 3\nretry: 10\n\n').encode())
    put("openai_stream", "whole-reply", b"\x00" + json.dumps({
        "id": "r", "object": "chat.completion", "model": "m", "system_fingerprint": "fp",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2}}).encode())
    put("openai_stream", "fastapi-error", b"\x00" + b'{"detail":[{"loc":["body"],"msg":"field required"}]}')


if __name__ == "__main__":
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    qa()
    verdict()
    os.makedirs(os.path.join(CORPUS, "gguf_header"))
    gguf_seeds()
    safetensors_seeds()
    png_seeds()
    jpeg_seeds()
    train_config_seeds()
    openai_stream_seeds()
