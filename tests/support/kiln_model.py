#!/usr/bin/python3
"""Reads .kiln files for the shell tests (docs/formats.md: "KILNMDL1", u64 little-endian header length, a JSON
header, then the payload the header's tensors point into).

  kiln_model.py meta FILE KEY        print meta[KEY] (JSON for lists and maps)
  kiln_model.py digest FILE          sha256 of the model/* tensors by name: equal weights, equal digest
  kiln_model.py max_diff FILE FILE   the largest absolute difference between the float32 model/* tensors
"""
import array
import hashlib
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        if f.read(8) != b"KILNMDL1":
            sys.exit("not a .kiln file: " + path)
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        return header, f.read()


def model_tensors(path):
    header, payload = read(path)
    return {t["name"]: (t, payload[t["offset"]:t["offset"] + t["nbytes"]])
            for t in header["tensors"] if t["name"].startswith("model/")}


def main(argv):
    if len(argv) == 3 and argv[0] == "meta":
        value = read(argv[1])[0]["meta"][argv[2]]
        print(value if isinstance(value, (int, float, str)) else json.dumps(value))
    elif len(argv) == 2 and argv[0] == "digest":
        digest = hashlib.sha256()
        for name, (_, data) in sorted(model_tensors(argv[1]).items()):
            digest.update(name.encode() + b"\0" + data)
        print(digest.hexdigest())
    elif len(argv) == 3 and argv[0] == "max_diff":
        a, b = model_tensors(argv[1]), model_tensors(argv[2])
        if a.keys() != b.keys() or not a:
            sys.exit("the two models hold different tensors")
        floats = [k for k in a if a[k][0]["dtype"] == "Float"]
        print(max(max((abs(x - y) for x, y in zip(array.array("f", a[k][1]), array.array("f", b[k][1]))),
                      default=0.0) for k in floats))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
