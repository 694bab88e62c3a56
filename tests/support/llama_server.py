"""`python -m llama_cpp.server`, loading its model the way Hearth loads its own (in ordinary
CPU buffers where llama.cpp was built with AMX: `engine.llm.runtime.plain_cpu_buffers`).

Run as `python -m support.llama_server ARGS` with `tests/` on the path; the arguments are the
server's own.
"""

import runpy

from engine.llm.runtime import plain_cpu_buffers

if __name__ == "__main__":
    with plain_cpu_buffers():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
