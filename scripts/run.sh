#!/usr/bin/env bash
# run.sh -- the README's run command: install what is needed, build, load
# the demo data into the default SQLite file if it holds no service yet,
# and serve gRPC on 127.0.0.1:50051 and REST on 127.0.0.1:8080 (Ctrl-C
# stops).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh
scripts/build.sh build -DSL_TESTS=OFF

db=${SERVICELOGS_DB:-servicelogs.db}
# The demo data goes in only when the database holds no service yet.
build/bin/servicelogs-server import --if-empty --backend "sqlite:$db" demo/demo.json

cat <<MSG

servicelogs is starting: gRPC on 127.0.0.1:50051, REST on 127.0.0.1:8080.
Try, from another terminal:

  curl -s http://127.0.0.1:8080/v1/demo-project/services/mnist-svc/logs
  build/bin/servicelogs query --addr 127.0.0.1:50051 --project demo-project --service mnist-svc

MSG
exec build/bin/servicelogs-server serve --backend "sqlite:$db" \
  --grpc-listen 127.0.0.1:50051 --http-listen 127.0.0.1:8080
