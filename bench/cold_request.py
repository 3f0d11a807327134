"""One cold request, as Lambda runs it: run in a fresh interpreter by `make bench` (`python cold_request.py
<spec.json>`), with Lambda's environment variables already set by the caller. Imports nothing of the bench.

Times the handler module's import (`_HANDLER`, from LAMBDA_TASK_ROOT first, as Lambda's bootstrap does) and
its first invocation separately (wall clock, and this process's CPU time), and writes them as JSON to the
spec's `out` file (stdout is the handler's: its log lines and metrics)."""

import json
import os
import sys
import time


class _Context:
    """What Lambda's context object offers the handler."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:111122223333:function:{function_name}"
        self.aws_request_id = "c0ffee00-0000-4000-8000-000000000001"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + 20

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"], *spec["layers"]]
    module_name, handler_name = os.environ["_HANDLER"].rsplit(".", 1)
    context = _Context(os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    started, started_cpu = time.perf_counter(), time.process_time()
    module = __import__(module_name)
    imported, imported_cpu = time.perf_counter(), time.process_time()
    answer = getattr(module, handler_name)(spec["event"], context)
    answered, answered_cpu = time.perf_counter(), time.process_time()
    timings = {
        "import_s": imported - started,
        "first_request_s": answered - imported,
        # CPU time of this process alone: less sensitive to other load on the machine, blind to waiting (I/O,
        # the emulator's and SendGrid's answers).
        "import_cpu_s": imported_cpu - started_cpu,
        "first_request_cpu_s": answered_cpu - imported_cpu,
    }
    with open(spec["out"], "w") as file:
        json.dump({**timings, "answer": answer}, file)


if __name__ == "__main__":
    main()
