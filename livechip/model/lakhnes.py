"""Reading LakhNES checkpoints (the `model.pt` that LakhNES's train.py writes) without running pickled code.

A LakhNES `model.pt` is `torch.save(model)` of the whole `MemTransformerLM`: a pickle of the module objects,
whose hyperparameters exist only as their attributes. Unpickling it the ordinary way imports LakhNES's classes
and runs whatever the file asks for. Here a restricted unpickler admits only what such a file needs:

- tensor rebuilds (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`) over storages read as raw bytes,
- `torch.FloatStorage` as a dtype tag, `collections.OrderedDict`, `set`,
- the LakhNES and torch module classes, each replaced by an inert stand-in that only records its `__dict__`,
- torch 1.0's `_get_thnn_function_backend`, replaced by a function that returns None.

Any other global is refused with a `CheckpointError` before it is looked up. Three containers are read: the
legacy (pre-1.6) stream that LakhNES's torch wrote, the zip container of torch >= 1.6, and the torch 1.0 object
layout with CUDA-tagged storages.

    sd, hparams = load_lakhnes("pretrained/LakhNES/model.pt")
    model = TransformerXL(TXLConfig.from_dict(hparams)); model.load_lakhnes_state_dict(sd)
"""

import io
import math
import pickle
import pickletools
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from livechip.core.errors import CheckpointError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# Module classes a LakhNES model pickle names; each becomes an inert stand-in of the same name.
MODULE_CLASSES = {
    "mem_transformer": ("MemTransformerLM", "AdaptiveEmbedding", "RelPartialLearnableDecoderLayer",
                        "RelPartialLearnableMultiHeadAttn", "PositionwiseFF", "PositionalEmbedding"),
    "proj_adaptive_softmax": ("ProjectedAdaptiveLogSoftmax",),
    "torch.nn.modules.container": ("ModuleList", "ParameterList", "Sequential"),
    "torch.nn.modules.sparse": ("Embedding",),
    "torch.nn.modules.linear": ("Linear",),
    "torch.nn.modules.normalization": ("LayerNorm",),
    "torch.nn.modules.dropout": ("Dropout",),
    "torch.nn.modules.activation": ("ReLU",),
}
STORAGE_DTYPES = {"FloatStorage": torch.float32}


class Module:
    """Inert stand-in for a pickled nn.Module: keeps the pickled `__dict__` in `attrs`, runs nothing."""

    kind = "Module"

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.kind}: module state is not a dict")
        self.attrs = state

    def get(self, name, default=None):
        return self.attrs.get(name, default) if hasattr(self, "attrs") else default

    def child(self, *names):
        m = self
        for n in names:
            m = (m.get("_modules") or {}).get(n) if isinstance(m, Module) else None
        return m


_STAND_INS = {(mod, name): type(name, (Module,), {"kind": name, "__module__": __name__})
              for mod, names in MODULE_CLASSES.items() for name in names}


class _Unpickler(pickle.Unpickler):
    """Admits only the globals a LakhNES checkpoint needs; storages come from `read_storage`."""

    def __init__(self, f, path, read_storage):
        super().__init__(f)
        self.path, self.read_storage = path, read_storage
        self.storages = {}

    # The callables handed out are bound methods: a pickle can call them but cannot set their attributes.
    def find_class(self, module, name):
        if (module, name) in _STAND_INS:
            return _STAND_INS[module, name]
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self.rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return self.rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module in ("__builtin__", "builtins") and name == "set":
            return set
        if (module, name) == ("torch.nn.backends.thnn", "_get_thnn_function_backend"):
            return self.no_backend
        raise CheckpointError(f"{self.path}: refused to load: it asks for the Python global {module}.{name}, "
                              "which a LakhNES checkpoint never needs (loading it could run code)")

    def rebuild_tensor(self, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
        if not isinstance(storage, torch.Tensor):
            raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
        if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) and all(isinstance(n, int) and n >= 0 for n in size + stride)):
            raise pickle.UnpicklingError("malformed tensor size, stride or offset")
        last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
        if offset < 0 or last >= storage.numel():
            raise pickle.UnpicklingError(f"tensor of size {list(size)} reaches past its storage "
                                         f"({storage.numel()} elements)")
        return storage.as_strided(size, stride, offset)

    def rebuild_parameter(self, data, requires_grad=False, hooks=None):
        if not isinstance(data, torch.Tensor):
            raise pickle.UnpicklingError("parameter rebuilt from something that is not a tensor")
        return data

    def no_backend(self):
        return None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.60}")
        if pid[0] == "module" and len(pid) == 4:
            if not (isinstance(pid[1], type) and issubclass(pid[1], Module)):
                raise pickle.UnpicklingError("module record names a class that is not a module")
            return pid[1]
        if pid[0] == "storage" and len(pid) in (5, 6):
            dtype, key, location, numel = pid[1:5]
            if len(pid) == 6 and pid[5] is not None:
                raise pickle.UnpicklingError("storage views are not supported")
            if not (isinstance(dtype, torch.dtype) and isinstance(key, str) and isinstance(location, str)
                    and isinstance(numel, int) and numel >= 0):
                raise pickle.UnpicklingError(f"malformed storage record for key {key!r:.40}")
            if key not in self.storages:
                self.storages[key] = self.read_storage(key, dtype, numel)
            elif self.storages[key].numel() != numel or self.storages[key].dtype != dtype:
                raise pickle.UnpicklingError(f"storage {key} is described twice differently")
            return self.storages[key]
        raise pickle.UnpicklingError(f"unknown persistent id kind {pid[0]!r:.40}")


def _unpickle(f, path, read_storage=None):
    def no_storage(*_):
        raise pickle.UnpicklingError("a storage where none is allowed")
    _check_opcodes(f)
    u = _Unpickler(f, path, read_storage or no_storage)
    return u.load(), u.storages


# Memo slots a checkpoint's pickle may name. The C unpickler grows its memo array to the largest
# index it sees, so one forged BINPUT index could make it allocate gigabytes before anything fails.
_MAX_MEMO = 1 << 20
_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"}


def _check_opcodes(f):
    """Read the next pickle's opcodes without running them; refuse forged lengths and memo indices."""
    start = f.tell()
    for op, arg, _ in pickletools.genops(f):   # ValueError on a length that runs past the data
        if op.name in _MEMO_OPS and not (isinstance(arg, int) and 0 <= arg < _MAX_MEMO):
            raise pickle.UnpicklingError(f"memo index {arg!r:.20} is out of range")
    f.seek(start)


def _read_legacy(path, f, size):
    """The legacy torch container: magic, protocol, sys info, object pickle, storage keys, raw storages."""
    header = [_unpickle(f, path)[0] for _ in range(3)]
    magic, protocol, info = header
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL or not isinstance(info, dict):
        raise CheckpointError(f"{path}: not a torch checkpoint (unknown legacy header)")
    if not info.get("little_endian", False):
        raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
    budget = [size]

    def allocate(key, dtype, numel):
        nbytes = numel * torch.empty(0, dtype=dtype).element_size()
        budget[0] -= nbytes
        if budget[0] < 0:   # more data announced than the file could hold
            raise CheckpointError(f"{path}: truncated: its storages need more bytes than the file has "
                                  f"({size} bytes)")
        return torch.empty(numel, dtype=dtype)

    obj, storages = _unpickle(f, path, allocate)
    keys, _ = _unpickle(f, path)
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise CheckpointError(f"{path}: corrupt: the storage list does not match the tensors in the pickle")
    for key in keys:
        t = storages[key]
        count = f.read(8)
        data = f.read(t.numel() * t.element_size()) if len(count) == 8 else b""
        if len(count) != 8 or len(data) != t.numel() * t.element_size():
            raise CheckpointError(f"{path}: truncated: the file ends inside the data of storage {key} "
                                  f"(byte {f.tell()} of {size})")
        if struct.unpack("<q", count)[0] != t.numel():
            raise CheckpointError(f"{path}: corrupt: storage {key} has {struct.unpack('<q', count)[0]} "
                                  f"elements, the pickle says {t.numel()}")
        t.numpy()[:] = np.frombuffer(data, dtype=_np_dtype(t.dtype))
    return obj


def _read_zip(path, f, size):
    """The zip container (torch >= 1.6): <top>/data.pkl plus one raw little-endian file per storage."""
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt zip checkpoint ({e})") from None
    with zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise CheckpointError(f"{path}: not a torch zip checkpoint (no single <folder>/data.pkl)")
        top = pkls[0][:-len("data.pkl")]
        if any(i.file_size > size for i in zf.infolist()):   # torch stores entries uncompressed
            raise CheckpointError(f"{path}: corrupt zip checkpoint (an entry is larger than the file)")
        if top + "byteorder" in zf.namelist() and zf.read(top + "byteorder") != b"little":
            raise CheckpointError(f"{path}: big-endian checkpoints are not supported")

        def read_storage(key, dtype, numel):
            name = f"{top}data/{key}"
            try:
                data = zf.read(name)
            except KeyError:
                raise CheckpointError(f"{path}: corrupt: storage {name} is missing") from None
            want = numel * torch.empty(0, dtype=dtype).element_size()
            if len(data) != want:
                raise CheckpointError(f"{path}: corrupt: storage {name} has {len(data)} bytes, needs {want}")
            return torch.from_numpy(np.frombuffer(data, dtype=_np_dtype(dtype)).copy())

        try:
            return _unpickle(io.BytesIO(zf.read(pkls[0])), path, read_storage)[0]
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise CheckpointError(f"{path}: corrupt zip checkpoint ({e})") from None


def _np_dtype(dtype):
    return {torch.float32: np.dtype("<f4")}[dtype]


def read_pickle(path):
    """The object a torch checkpoint file holds, with stand-ins for modules; CheckpointError if unsafe/bad."""
    path = Path(path)
    try:
        data = path.read_bytes()   # in memory, so a forged length in the pickle cannot make a read allocate more
    except OSError as e:
        raise CheckpointError(f"{path}: cannot open checkpoint ({e.strerror or e})") from None
    f = io.BytesIO(data)
    try:
        if data[:4] == b"PK\x03\x04":
            return _read_zip(path, f, len(data))
        if data[:2] == b"\x80\x02":
            return _read_legacy(path, f, len(data))
    except CheckpointError:
        raise
    except EOFError:
        raise CheckpointError(f"{path}: truncated: the file ends inside the pickled model") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            OverflowError, MemoryError, RecursionError, struct.error) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({type(e).__name__}: {e})"[:300]) from None
    raise CheckpointError(f"{path}: not a torch checkpoint (neither the zip nor the legacy container)")


def _walk(m, prefix, sd):
    for group in ("_parameters", "_buffers"):
        items = m.get(group) or {}
        if not isinstance(items, dict):
            raise CheckpointError(f"malformed module {prefix or 'root'}: {group} is not a dict")
        for k, v in items.items():
            if v is None:
                continue
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"malformed module: {prefix}{k} is not a tensor")
            sd[prefix + k] = v
    for k, v in (m.get("_modules") or {}).items():
        if isinstance(v, Module):
            _walk(v, f"{prefix}{k}.", sd)
        elif v is not None:
            raise CheckpointError(f"malformed module: {prefix}{k} is not a module")


def expected_shapes(hp):
    """LakhNES state_dict key -> shape for a MemTransformerLM with these hyperparameters."""
    V, D, E, H, Dh, F = (hp[k] for k in ("n_token", "d_model", "d_embed", "n_head", "d_head", "d_inner"))
    shapes = {"r_w_bias": (H, Dh), "r_r_bias": (H, Dh), "word_emb.emb_layers.0.weight": (V, E)}
    if E != D:
        shapes["word_emb.emb_projs.0"] = (D, E)
    for i in range(hp["n_layer"]):
        a, f = f"layers.{i}.dec_attn.", f"layers.{i}.pos_ff."
        shapes.update({a + "qkv_net.weight": (3 * H * Dh, D), a + "o_net.weight": (D, H * Dh),
                       a + "layer_norm.weight": (D,), a + "layer_norm.bias": (D,), a + "r_net.weight": (H * Dh, D),
                       f + "CoreNet.0.weight": (F, D), f + "CoreNet.0.bias": (F,),
                       f + "CoreNet.3.weight": (D, F), f + "CoreNet.3.bias": (D,),
                       f + "layer_norm.weight": (D,), f + "layer_norm.bias": (D,)})
    shapes["crit.out_layers.0.weight"] = (V, E)
    shapes["crit.out_layers.0.bias"] = (V,)
    if E != D:
        shapes["crit.out_projs.0"] = (D, E)
    shapes["pos_emb.inv_freq"] = ((D + 1) // 2,)
    return shapes


def _hparams(path, root):
    """The TXLConfig fields of a LakhNES model, from the pickled attributes of its modules."""
    def need(m, name, types, where):
        v = m.get(name) if isinstance(m, Module) else None
        if not isinstance(v, types) or isinstance(v, bool) and types is int:
            raise CheckpointError(f"{path}: not a usable LakhNES model: {where} has no {name}")
        return v

    hp = {k: need(root, k, int, "MemTransformerLM") for k in
          ("n_token", "d_embed", "d_model", "n_head", "d_head", "n_layer", "tgt_len", "mem_len", "ext_len",
           "clamp_len", "attn_type")}
    hp["same_length"] = need(root, "same_length", bool, "MemTransformerLM")
    if hp["attn_type"] != 0:
        raise CheckpointError(f"{path}: attn_type {hp['attn_type']} is not supported (LakhNES uses 0)")
    if hp["ext_len"] != 0:
        raise CheckpointError(f"{path}: ext_len {hp['ext_len']} is not supported (LakhNES uses 0)")
    if isinstance(root.get("sample_softmax"), int) and root.get("sample_softmax") > 0:
        raise CheckpointError(f"{path}: sampled-softmax models are not supported")
    crit = root.child("crit")
    if not isinstance(crit, Module) or crit.get("n_clusters", 0) != 0:
        raise CheckpointError(f"{path}: adaptive-softmax models (cutoffs) are not supported")
    if not isinstance(root.child("word_emb"), Module) or root.child("word_emb").get("div_val", 1) != 1:
        raise CheckpointError(f"{path}: div_val other than 1 is not supported")
    layer0 = root.child("layers", "0")
    if hp["n_layer"] < 1 or not isinstance(layer0, Module):
        raise CheckpointError(f"{path}: not a usable LakhNES model: no layers")
    ff = layer0.child("pos_ff")
    hp["d_inner"] = need(ff, "d_inner", int, "PositionwiseFF")
    hp["pre_lnorm"] = need(ff, "pre_lnorm", bool, "PositionwiseFF")
    hp["dropout"] = float(need(ff, "dropout", (int, float), "PositionwiseFF"))
    hp["dropatt"] = float(need(layer0.child("dec_attn", "dropatt"), "p", (int, float), "the attention dropout"))
    del hp["ext_len"], hp["attn_type"]
    return hp


def _tied(sd):
    a, b = sd.get("word_emb.emb_layers.0.weight"), sd.get("crit.out_layers.0.weight")
    return (a is not None and b is not None and a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
            and a.storage_offset() == b.storage_offset() and a.shape == b.shape and a.stride() == b.stride())


def load_lakhnes(path):
    """(state_dict, hparams) of a LakhNES `model.pt`, without executing anything from the file.

    state_dict has LakhNES's own key names (the tied output weight under both of its keys), float32 tensors
    checked against the shapes the pickled hyperparameters imply. hparams holds exactly the
    `livechip.model.txl.TXLConfig` fields. Raises CheckpointError naming the file and the problem.
    """
    root = read_pickle(path)
    if not isinstance(root, Module) or root.kind != "MemTransformerLM":
        what = root.kind if isinstance(root, Module) else type(root).__name__
        raise CheckpointError(f"{path}: not a LakhNES model file: it holds a {what}, not a MemTransformerLM "
                              "(LakhNES's train.py saves the whole model as model.pt)")
    hp = _hparams(path, root)
    sd = {}
    try:
        _walk(root, "", sd)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    hp["tie_weight"] = _tied(sd)
    want = expected_shapes(hp)
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    if missing or extra:
        parts = [f"missing {', '.join(missing[:4])}" if missing else "",
                 f"unexpected {', '.join(extra[:4])}" if extra else ""]
        raise CheckpointError(f"{path}: mismatched checkpoint: {'; '.join(p for p in parts if p)}")
    dims = ", ".join(f"{k} {hp[k]}" for k in ("n_token", "d_model", "d_embed", "n_head", "d_head", "d_inner"))
    for k, shape in want.items():
        if tuple(sd[k].shape) != shape:
            raise CheckpointError(f"{path}: mismatched checkpoint: {k} has shape {list(sd[k].shape)}, but the "
                                  f"pickled config ({dims}) needs {list(shape)}")
        if not torch.isfinite(sd[k]).all():
            raise CheckpointError(f"{path}: corrupt checkpoint: {k} holds NaN or infinite values")
    ref = 1 / (10000 ** (torch.arange(0.0, hp["d_model"], 2.0) / hp["d_model"]))
    if not torch.allclose(sd["pos_emb.inv_freq"], ref, rtol=1e-6, atol=0):
        raise CheckpointError(f"{path}: mismatched checkpoint: pos_emb.inv_freq does not match d_model "
                              f"{hp['d_model']}")
    if math.isnan(hp["dropout"]) or math.isnan(hp["dropatt"]):
        raise CheckpointError(f"{path}: corrupt checkpoint: dropout is NaN")
    return sd, hp
