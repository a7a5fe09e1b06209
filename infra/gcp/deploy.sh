#!/usr/bin/env bash
# Build and deploy skiplock to Google Cloud; the database is migrated once per deploy, after
# the migration function is updated and before the other functions are.
#
#   infra/gcp/deploy.sh PROJECT [terraform apply options, e.g. -var region=us-central1]
#
# PACKAGE_OPTIONS passes options to `python -m infra.package`, e.g. your own job types:
# PACKAGE_OPTIONS="--include ../app/jobs --requirements ../app/requirements.txt".
# Needs: terraform, gcloud (logged in with rights to deploy and to invoke Cloud Run), curl,
# and the repository's .venv. Keep the Terraform state in a private backend: it holds secrets.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,11p' "$0" >&2
    exit 2
fi
PROJECT=$1
shift
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
cd "$REPO"

"$PYTHON" -m infra.gcp --check   # definitions.json must match functions/catalog.py
# shellcheck disable=SC2086  # PACKAGE_OPTIONS is a list of options
"$PYTHON" -m infra.package --target gcp ${PACKAGE_OPTIONS:-}

cd infra/gcp
terraform init -input=false
terraform apply -input=false -var "project=$PROJECT" -target=google_cloudfunctions2_function.migrate "$@"
curl --fail-with-body --silent --show-error --request POST \
    --header "Authorization: Bearer $(gcloud auth print-identity-token)" \
    "$(terraform output -raw migrate_url)"
echo
terraform apply -input=false -var "project=$PROJECT" "$@"
