"""Print the template after the real SAM transform (run with the SAM CLI's python: .venv-sam/bin/python).

Local code paths are swapped for S3 URIs first, as `sam validate` and `sam package` do.
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicies:
    def load(self, *args, **kwargs):
        return {}


def main(path: str, parameters: dict) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://bucket/{properties[key].strip('/')}.zip"
    print(json.dumps(transform(template, parameters, _NoManagedPolicies())))


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
