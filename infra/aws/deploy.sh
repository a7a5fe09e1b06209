#!/usr/bin/env bash
# Build, upload and deploy skiplock to AWS in one step; every deploy migrates the database
# once (the DatabaseMigration custom resource runs `alembic upgrade head` for each new build).
#
#   infra/aws/deploy.sh STACK ARTIFACT_BUCKET [Parameter=Value ...]
#
# The first deploy of a stack needs VpcId=..., SubnetIds=subnet-a,subnet-b and SesSender=...;
# later deploys keep the stack's previous values for every parameter not given again. A
# setting may be given by its README name (MAX_ATTEMPTS=8). PACKAGE_OPTIONS passes options to
# `python -m infra.package`, e.g. PACKAGE_OPTIONS="--include ../app/jobs --requirements
# ../app/requirements.txt" for your own job types (see docs/DEPLOY.md).
# Needs: the AWS CLI v2 with credentials, and the repository's .venv (python -m venv .venv &&
# .venv/bin/pip install -r requirements-dev.txt). docs/DEPLOY.md explains the parameters.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,13p' "$0" >&2
    exit 2
fi
STACK=$1
BUCKET=$2
shift 2
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
cd "$REPO"

"$PYTHON" -m infra.aws --check   # the template must match functions/catalog.py
# Checked before anything is built: names, and SesSender's bare address as SesIdentity.
OVERRIDES_TEXT=$("$PYTHON" -m infra.aws.overrides "$@")
OVERRIDES=()
if [[ -n $OVERRIDES_TEXT ]]; then
    mapfile -t OVERRIDES <<<"$OVERRIDES_TEXT"
fi
# shellcheck disable=SC2086  # PACKAGE_OPTIONS is a list of options
BUILT=$("$PYTHON" -m infra.package ${PACKAGE_OPTIONS:-})   # "PATH SIZE KiB sha256=DIGEST"
echo "$BUILT"
ARTIFACT=${BUILT%% *}
KEY="skiplock/${BUILT##*sha256=}.zip"

if ! aws s3api head-object --bucket "$BUCKET" --key "$KEY" >/dev/null 2>&1; then
    aws s3 cp "$ARTIFACT" "s3://$BUCKET/$KEY"
fi

aws cloudformation deploy \
    --stack-name "$STACK" \
    --template-file infra/aws/template.yaml \
    --capabilities CAPABILITY_IAM \
    --no-fail-on-empty-changeset \
    --s3-bucket "$BUCKET" --s3-prefix skiplock/templates \
    --parameter-overrides "ArtifactBucket=$BUCKET" "ArtifactKey=$KEY" "${OVERRIDES[@]}"

aws cloudformation describe-stacks --stack-name "$STACK" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
