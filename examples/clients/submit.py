"""Submit a Lua agent to `orbiter serve` and print its events as they arrive.

    ORBITER_URL=http://127.0.0.1:8080 ORBITER_TOKEN=... python submit.py examples/calculator.lua "2 + 40"
"""
import json, os, sys
import requests

url, auth = os.environ.get("ORBITER_URL", "http://127.0.0.1:8080"), {"Authorization": "Bearer " + os.environ["ORBITER_TOKEN"]}
task = requests.post(f"{url}/v1/tasks", headers=auth, json={"script": open(sys.argv[1]).read(), "entry": os.path.basename(sys.argv[1]), "input": sys.argv[2]})
if not task.ok: sys.exit(f"orbiter: {task.status_code} {task.json()['error']['message']}")
task_id = task.json()["task_id"]
with requests.get(f"{url}/v1/tasks/{task_id}/events", headers=auth, stream=True) as events:
    for line in events.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event["type"] == "text": print(event["text"], end="", flush=True)
            if event["type"] == "status" and event["status"] in ("completed", "failed", "cancelled"):
                print(f"\n[{task_id} {event['status']}]")
                sys.exit(0 if event["status"] == "completed" else 1)
