#!/usr/bin/env python3
"""Writes the file readers' fuzzer seed corpus (fuzz/files_corpus/seed_*), one valid file per seed.

Each seed is the mode byte files_fuzzer.cpp decodes, then the file:
  bits 0-2 the reader (0 read_idx, 1 read_csv, 2 load_npy, 3 load_npz, 4 load_parameters,
  5 load_training_state), bit 3 double (else float); read_csv: bit 4 has_header, bits 5-6 the
  delimiter (',', ';', ' ', '\\t'); the model readers: bit 4 Adam (else SGD with momentum), bit 5 a
  StepLR schedule, bit 6 a BatchNorm1d layer, bit 7 a training step before the load; the .npz
  readers (load_npz and the model readers) then take a fix-up byte, bit 0 asking the harness to
  rewrite the CRC-32 of every stored member (set in every seed here, so that the fuzzer's changes
  inside a member get past the CRC check), bits 1-2 the schedule (1 SequentialLR of LinearLR and
  StepLR, 2 ReduceLROnPlateau, else StepLR).
Valid files make the fuzzer start from the readers' deepest paths. Only the standard library is
used (struct, zlib, zipfile, gzip), so the .npy and .npz writers here are independent of the
library's own. Checkpoints and training states use the names the fuzzer's model has (Linear 2->3,
maybe BatchNorm1d(3), tanh, Linear 3->2) and the optimizers' and StepLR's state names.
Run it from anywhere: python3 fuzz/make_files_corpus.py (rewrites the seed_* files only; inputs
found by the fuzzer and committed as regressions are named crash_* or found_* and kept).
"""
import gzip
import io
import math
import os
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "files_corpus")

IDX, CSV, NPY, NPZ, PARAMS, STATE = range(6)
DOUBLE = 0x08
FIX_CRC = 0x01
STEPLR, SEQUENTIAL, PLATEAU = 0, 1, 2


def npy(shape, values, dtype="<f8", version=(1, 0), align=64):
    """A .npy file as numpy writes it (header padded so that the data starts at 64 bytes), or
    as numpy before 1.14 did (align=16)."""
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (dtype, dims)
    length_bytes = 2 if version[0] == 1 else 4
    pre = 6 + 2 + length_bytes
    total = pre + len(header) + 1
    header += " " * ((align - total % align) % align) + "\n"
    fmt = "<H" if length_bytes == 2 else "<I"
    encoding = "latin1" if version[0] < 3 else "utf8"
    out = b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(header)) + header.encode(encoding)
    code = "d" if dtype == "<f8" else "f"
    return out + struct.pack("<%d%s" % (len(values), code), *values)


def npz(members, compressed=False):
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


npy_file = npy

IDX_CODES = {"B": 0x08, "b": 0x09, ">h": 0x0B, ">i": 0x0C, ">f": 0x0D, ">d": 0x0E}


def idx(fmt, shape, values):
    out = bytes([0, 0, IDX_CODES[fmt], len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    code = fmt[-1]
    return out + struct.pack(">%d%s" % (len(values), code), *values)


def gz(data):
    return gzip.compress(data, mtime=0)


def vals(n, scale=1.0):
    return [scale * ((i * 7) % 11 - 5) / 4 for i in range(n)]


# ---- the fuzzer's model --------------------------------------------------------------------


def model_arrays(batchnorm):
    arrays = [("0.W", [2, 3]), ("0.b", [3])]
    last = "2"
    if batchnorm:
        arrays += [("1.weight", [3]), ("1.bias", [3])]
        last = "3"
    arrays += [(last + ".W", [3, 2]), (last + ".b", [2])]
    if batchnorm:
        arrays += [("1.running_mean", [3]), ("1.running_var", [3]), ("1.num_batches_tracked", [])]
    return arrays


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def checkpoint(batchnorm, dtype, compressed=False):
    members = [(name, npy(shape, vals(numel(shape), 0.5), dtype))
               for name, shape in model_arrays(batchnorm)]
    return npz(members, compressed)


def schedule_members(kind, lr, stepped):
    """The state of the fuzzer's schedule of this kind (byte 1, bits 1-2), as (name, value)."""
    epoch = 1.0 if stepped else 0.0
    if kind == SEQUENTIAL:  # LinearLR until epoch 2, then StepLR, which has not started
        out = [("last_epoch", epoch), ("base_lr", lr), ("last_lr", lr)]
        out += [("schedulers.0.last_epoch", epoch), ("schedulers.0.base_lr", lr),
                ("schedulers.0.last_lr", lr)]
        return out + [("schedulers.1.last_epoch", -1.0), ("schedulers.1.base_lr", lr),
                      ("schedulers.1.last_lr", lr)]
    if kind == PLATEAU:
        return [("last_epoch", epoch), ("last_lr", lr), ("best", 1.0 if stepped else math.inf),
                ("num_bad_epochs", 0.0), ("cooldown_counter", 0.0)]
    return [("last_epoch", epoch), ("base_lr", lr), ("last_lr", lr)]


def training_state(batchnorm, adam, schedule, stepped, compressed=False, kind=STEPLR):
    # numpy < 1.14's 16-byte alignment keeps the stored archives below 4 KiB.
    def npy(shape, values):
        return npy_file(shape, values, align=16)

    members = [("model." + name, npy(shape, vals(numel(shape), 0.5)))
               for name, shape in model_arrays(batchnorm)]
    lr = 0.01 if adam else 0.1
    members.append(("optimizer.lr", npy([], [lr])))
    params = [(n, s) for n, s in model_arrays(batchnorm) if "running" not in n and "tracked" not in n]
    for i, (_, shape) in enumerate(params):
        if adam:
            members.append(("optimizer.%d.step" % i, npy([], [1.0 if stepped else 0.0])))
            if stepped:
                members.append(("optimizer.%d.exp_avg" % i, npy(shape, vals(numel(shape), 0.01))))
                members.append(("optimizer.%d.exp_avg_sq" % i,
                                npy(shape, [abs(v) for v in vals(numel(shape), 0.001)])))
        elif stepped:
            members.append(("optimizer.%d.momentum_buffer" % i, npy(shape, vals(numel(shape), 0.1))))
    if schedule:
        for name, value in schedule_members(kind, lr, stepped):
            members.append(("schedule." + name, npy([], [value])))
    return npz(members, compressed)


def seeds():
    s = {}
    # .npy: every version, both dtypes, ranks 0-3, an empty array.
    for T, tname in ((0, "float"), (DOUBLE, "double")):
        for dtype in ("<f4", "<f8"):
            for version in ((1, 0), (2, 0), (3, 0)):
                name = "npy_%s_%s_v%d" % (tname, dtype[1:], version[0])
                s[name] = bytes([NPY | T]) + npy([2, 3], vals(6), dtype, version)
    s["npy_scalar"] = bytes([NPY | DOUBLE]) + npy([], [math.pi])
    s["npy_rank3"] = bytes([NPY]) + npy([2, 2, 2], vals(8), "<f4")
    s["npy_empty"] = bytes([NPY | DOUBLE]) + npy([0, 4], [])
    s["npy_specials"] = bytes([NPY | DOUBLE]) + npy(
        [6], [math.inf, -math.inf, math.nan, -0.0, 5e-324, 1e300])
    # .npz: stored and deflated, mixed dtypes.
    members = [("a", npy([3], vals(3))), ("b", npy([2, 2], vals(4), "<f4")),
               ("c", npy([], [1.5]))]
    s["npz_stored_double"] = bytes([NPZ | DOUBLE]) + npz(members)
    s["npz_stored_float"] = bytes([NPZ]) + npz(members)
    s["npz_deflated_double"] = bytes([NPZ | DOUBLE]) + npz(members, True)
    s["npz_deflated_float"] = bytes([NPZ]) + npz(members, True)
    s["npz_empty_archive"] = bytes([NPZ]) + npz([])
    # IDX: every type, plain and gzip'd; rank 1 (labels) and rank 3 (images).
    for fmt, tname in (("B", "ubyte"), ("b", "sbyte"), (">h", "short"), (">i", "int"),
                       (">f", "float"), (">d", "double")):
        integer = fmt[-1] not in "fd"
        labels = [i % 10 for i in range(6)] if integer else [0.5 * i for i in range(6)]
        images = [(i * 37) % 256 if fmt == "B" else (i * 7) % 100 - (0 if fmt == "B" else 50)
                  for i in range(12)]
        if not integer:
            images = [v / 8 for v in images]
        s["idx_%s_labels" % tname] = bytes([IDX]) + idx(fmt, [6], labels)
        s["idx_%s_images_gz" % tname] = bytes([IDX | DOUBLE]) + gz(idx(fmt, [3, 2, 2], images))
        s["idx_%s_images" % tname] = bytes([IDX]) + idx(fmt, [3, 2, 2], images)
    s["idx_labels_gz"] = bytes([IDX | DOUBLE]) + gz(idx("B", [4], [1, 2, 3, 9]))
    # CSV: each delimiter, with and without a header, quotes, CRLF, a BOM, blank lines.
    for d, c in enumerate(",; \t"):
        rows = [c.join(["1", "-2.5", "3e2"]), c.join(["4", "+5", "nan"])]
        s["csv_delim%d" % d] = bytes([CSV | DOUBLE | (d << 5)]) + ("\n".join(rows) + "\n").encode()
        s["csv_delim%d_header" % d] = bytes([CSV | 0x10 | (d << 5)]) + (
            c.join(["x", "y", "z"]) + "\n" + "\n".join(rows) + "\n").encode()
    s["csv_quoted_crlf_bom"] = bytes([CSV | DOUBLE]) + (
        "\ufeff\"1\", 2 ,\"3.5\"\r\n\r\n4,5,-inf\r\n").encode()
    s["csv_float_range"] = bytes([CSV]) + b"1e38,1e-45,-0\n3.4028235e38,1.17549435e-38,0.1\n"
    # Checkpoints: float and double models, with and without BatchNorm buffers.
    for bn in (False, True):
        for T, tname in ((0, "float"), (DOUBLE, "double")):
            mode = PARAMS | T | (0x40 if bn else 0)
            dtype = "<f4" if T == 0 else "<f8"
            s["params_%s%s" % (tname, "_bn" if bn else "")] = bytes([mode]) + checkpoint(bn, dtype)
    s["params_deflated"] = bytes([PARAMS | DOUBLE]) + checkpoint(False, "<f8", True)
    s["params_float_file_double_model"] = bytes([PARAMS | DOUBLE]) + checkpoint(False, "<f4")
    # Training states: each optimizer, with and without a schedule, before and after a step.
    for adam in (False, True):
        for schedule in (False, True):
            for stepped in (False, True):
                bn = adam and schedule and not stepped
                mode = STATE | (0x10 if adam else 0) | (0x20 if schedule else 0) | \
                    (0x40 if bn else 0) | (0x80 if stepped else 0) | (DOUBLE if stepped else 0)
                name = "state_%s%s%s" % ("adam" if adam else "sgd",
                                         "_steplr" if schedule else "",
                                         "_stepped" if stepped else "")
                # Stored, so that the harness's CRC fix-up lets changes inside members through;
                # the largest deflated, or it would pass 4 KiB.
                big = adam and schedule and stepped
                s[name] = bytes([mode]) + training_state(bn, adam, schedule, stepped, big)
    # The other schedules (their kind in byte 1).
    for adam, kind, stepped, kname in ((False, SEQUENTIAL, False, "seqlr"),
                                       (False, SEQUENTIAL, True, "seqlr"),
                                       (False, PLATEAU, True, "plateau"),
                                       (True, PLATEAU, False, "plateau")):
        mode = STATE | (0x10 if adam else 0) | 0x20 | (0x80 if stepped else 0)
        name = "state_%s_%s%s" % ("adam" if adam else "sgd", kname, "_stepped" if stepped else "")
        state = training_state(False, adam, True, stepped, False, kind)
        if len(state) > 4000:  # deflated rather than past 4 KiB
            state = training_state(False, adam, True, stepped, True, kind)
        s[name] = (bytes([mode]), kind << 1, state)
    s["state_deflated"] = bytes([STATE | 0x10 | 0x80]) + training_state(False, True, False, True,
                                                                        True)
    return s


def main():
    os.makedirs(CORPUS, exist_ok=True)
    for f in os.listdir(CORPUS):
        if f.startswith("seed_"):
            os.remove(os.path.join(CORPUS, f))
    for name, data in sorted(seeds().items()):
        schedule = 0
        if isinstance(data, tuple):
            mode, schedule, rest = data
            data = mode + rest
        if data[0] & 7 in (NPZ, PARAMS, STATE, NPZ + 4):
            data = data[:1] + bytes([FIX_CRC | schedule]) + data[1:]
        assert len(data) < 4096, (name, len(data))
        with open(os.path.join(CORPUS, "seed_" + name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds()), CORPUS))


if __name__ == "__main__":
    main()
