#!/bin/sh
# The images' entrypoint:
#   api     (the default) serves the image's HTTP app: the service's API or the dashboard on $PORT (8000), the
#           PlusVibe simulator on 127.0.0.1:8931 (loopback only; compose and k8s put a proxy beside it; it registers
#           no webhook itself: leads adds one through /hook/add when the integration is connected)
#   health  the image's health check (the HTTP app's liveness)
#   anything else runs as given: python -m <service>.entrypoints.consumers | relay | migrate, ...
set -eu
cmd=${1:-api}
case "$cmd" in
  api)
    case "$OUTREACH_SERVICE" in
      plusvibe-simulator)
        exec python -m plusvibe.simulator --host 127.0.0.1 --port 8931 --seed demo --tick-seconds 5 ;;
      dashboard) app=dashboard.app:app_factory ;;
      *) app="$OUTREACH_SERVICE.entrypoints.http:app_factory" ;;
    esac
    exec uvicorn --factory "$app" --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" --no-access-log ;;
  health)
    case "$OUTREACH_SERVICE" in
      plusvibe-simulator) url=http://127.0.0.1:8931/_sim/health ;;
      *) url="http://127.0.0.1:${PORT:-8000}/health/live" ;;
    esac
    exec python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" ;;
esac
exec "$@"
