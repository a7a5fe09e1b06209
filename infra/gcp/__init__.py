"""The Google Cloud deployment: Terraform in this folder, fed by definitions.json.

`python -m infra.gcp` writes definitions.json from infra/functions.toml (Terraform cannot read
TOML); `python -m infra.gcp --check` fails when the checked-in file is out of date.
"""
