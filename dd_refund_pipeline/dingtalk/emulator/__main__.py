"""Run the Yida emulator: ``python -m dd_refund_pipeline.dingtalk.emulator --port N ...``."""

from dd_refund_pipeline.emulator.__main__ import main

if __name__ == "__main__":
    main()
