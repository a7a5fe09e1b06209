"""The AWS deployment: a CloudFormation template generated from functions/catalog.py.

`python -m infra.aws` writes infra/aws/template.yaml; `python -m infra.aws --check` fails when
the checked-in template differs from what the catalog now gives.
"""
