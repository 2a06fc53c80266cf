#!/usr/bin/python3
# torchrun for Debian 12's python3-torch 1.13 on Python 3.11 (test helper). torch 1.13's Std.from_str looks the
# value up with `for s in Std`, and Python 3.11 no longer yields IntFlag's zero and multi-bit members (NONE, ALL)
# when iterating, so "0" (the default of --redirects/--tee) becomes None and to_map() fails with
# "'NoneType' object has no attribute 'get'". Patch the lookup when it is broken, then run torchrun unchanged.
import re
import sys

from torch.distributed.elastic.multiprocessing import api as _api

if _api.Std.from_str("0") is None:
    def _from_str(cls, vm):
        if re.match(_api._VALUE_REGEX, vm):
            return cls(int(vm))
        if re.match(_api._MAPPING_REGEX, vm):
            return {int(i): cls(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError(f"{vm} does not match: <{_api._VALUE_REGEX}> or <{_api._MAPPING_REGEX}>")

    _api.Std.from_str = classmethod(_from_str)

from torch.distributed.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
