"""The AWS deployment: a CloudFormation template generated from infra/functions.toml.

`python -m infra.aws` writes infra/aws/template.yaml; `python -m infra.aws --check` fails when
the checked-in template differs from what functions.toml now gives.
"""
