#!/bin/sh
# A test agent that prints what `claude -p ... --output-format json` prints.
cat <<JSON
{"type":"result","subtype":"success","is_error":false,"duration_ms":2841,"duration_api_ms":2400,"num_turns":4,"result":"Summarized the vault into knowledge/insights/vault.md.","session_id":"0b6c1c52-5a2f-4a3e-9f0e-1d2c3b4a5f60","total_cost_usd":0.0421,"usage":{"input_tokens":1200,"cache_creation_input_tokens":300,"cache_read_input_tokens":9000,"output_tokens":450}}
JSON
