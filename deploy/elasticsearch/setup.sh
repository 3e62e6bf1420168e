#!/bin/sh
# One-shot setup for the logging stack (run by the compose "setup" service): users and roles,
# the ILM policy and index template for helpdesk-logs-*, and the Kibana saved objects.
set -eu

ES="${ELASTICSEARCH_HOSTS:-http://elasticsearch:9200}"
KIBANA="${KIBANA_HOST:-http://kibana:5601}"
HERE="$(dirname "$0")"

for name in ELASTIC_PASSWORD KIBANA_SYSTEM_PASSWORD LOGSTASH_WRITER_PASSWORD; do
  eval "value=\${$name:-}"
  # Passwords are written into JSON bodies below: keep them to characters that need no escaping.
  if ! printf '%s' "$value" | grep -Eq '^[A-Za-z0-9_.~-]{16,}$'; then
    echo "setup: $name must be at least 16 characters of A-Z a-z 0-9 _ . ~ -" >&2
    exit 1
  fi
done

es() {  # es METHOD PATH [curl args…]
  method=$1; path=$2; shift 2
  curl --silent --show-error --fail-with-body -u "elastic:${ELASTIC_PASSWORD}" \
    -H 'Content-Type: application/json' -X "$method" "$ES$path" "$@"
  echo
}

echo "setup: waiting for Elasticsearch"
until curl --silent --fail -u "elastic:${ELASTIC_PASSWORD}" \
    "$ES/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null; do
  sleep 3
done

es POST /_security/user/kibana_system/_password -d "{\"password\":\"${KIBANA_SYSTEM_PASSWORD}\"}"
es PUT /_security/role/helpdesk_logstash_writer --data-binary "@$HERE/logstash-writer-role.json"
es PUT /_security/user/helpdesk_logstash \
  -d "{\"password\":\"${LOGSTASH_WRITER_PASSWORD}\",\"roles\":[\"helpdesk_logstash_writer\"]}"
es PUT /_ilm/policy/helpdesk-logs --data-binary "@$HERE/ilm-policy.json"
es PUT /_index_template/helpdesk-logs --data-binary "@$HERE/index-template.json"

echo "setup: waiting for Kibana"
until curl --silent --fail -u "elastic:${ELASTIC_PASSWORD}" "$KIBANA/api/status" >/dev/null; do
  sleep 5
done
curl --silent --show-error --fail-with-body -u "elastic:${ELASTIC_PASSWORD}" -H 'kbn-xsrf: true' \
  -X POST "$KIBANA/api/saved_objects/_import?overwrite=true" \
  -F "file=@$HERE/../kibana/helpdesk.ndjson"
echo
echo "setup: done"
