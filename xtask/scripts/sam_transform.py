"""Transforms template.yaml (AWS SAM) into plain CloudFormation, offline, the way `sam validate` does.

cfn-lint >= 1.54 validates SAM resources against schemas only and misses broken Refs inside them, so the test
command lints the transformed output as well. Usage: sam_transform.py TEMPLATE OUTPUT_JSON
"""
import json
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template only uses SAM policy templates; looking up an AWS managed policy would need credentials."""

    def load(self):
        raise RuntimeError("template.yaml must not reference AWS managed policies by name")


def main(source, destination):
    with open(source, encoding="utf-8") as handle:
        template = yaml_parse(handle.read())
    # Local CodeUri paths become S3 locations, as `sam package` would make them.
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://example-bucket/{logical_id}.zip"
    try:
        output = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"SAM transform error: {cause.message}", file=sys.stderr)
        return 1
    with open(destination, "w", encoding="utf-8") as handle:
        json.dump(output, handle, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
