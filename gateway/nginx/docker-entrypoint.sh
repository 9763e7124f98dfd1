#!/bin/sh
# The gateway image's entrypoint: renders every *.template of TEMPLATE_DIR into RUN_DIR
# (/etc/nginx/helpdesk by default), filling only the placeholders named in TEMPLATE_VARS, then
# runs nginx in the foreground (the template says `daemon off`) as PID 1.
#
# Only the listed ${NAME}s are replaced, so nginx's own $variables ($host, $request_id, ...)
# survive. It refuses to start, naming the culprit, when a listed variable is not set or when
# a template uses a placeholder this list does not know (nginx would otherwise get a literal
# "${NAME}" or an empty value). tools/stack.py renders the same templates for `make run`.
#
# With arguments, they are run instead of nginx once the templates are rendered, e.g.
#   docker run --rm IMAGE nginx -t -e stderr -c /etc/nginx/helpdesk/nginx.conf
set -eu

# Every placeholder the templates may use. A template that gains one: add it here, give it a
# default in the Dockerfile or a value in docker-compose.prod.yml.
TEMPLATE_VARS="RUN_DIR NGINX_MODULES GATEWAY_HOST GATEWAY_PORT GATEWAY_TLS_PORT HTTPS_PORT_SUFFIX
TLS_CERT TLS_KEY TLS_DHPARAM CORE_SERVERS AI_SERVERS REALTIME_SERVERS API_RATE API_BURST
LOGIN_RATE LOGIN_BURST REAL_IP_FROM"

TEMPLATE_DIR=${TEMPLATE_DIR:-/etc/nginx/templates}
RUN_DIR=${RUN_DIR:-/etc/nginx/helpdesk}
export RUN_DIR

die() {
    echo "gateway: $*" >&2
    exit 1
}

found=0
for template in "$TEMPLATE_DIR"/*.template; do
    if [ -f "$template" ]; then found=1; fi
done
[ "$found" = 1 ] || die "no *.template in $TEMPLATE_DIR"

# Placeholders the templates use that the list does not name.
listed=" $(echo $TEMPLATE_VARS) "
used=$(cat "$TEMPLATE_DIR"/*.template | grep -o '\${[A-Z_][A-Z0-9_]*}' | tr -d '${}' | sort -u)
for name in $used; do
    case "$listed" in
        *" $name "*) ;;
        *) die "a template uses \${$name}, which TEMPLATE_VARS in $0 does not list" ;;
    esac
done

# Every listed variable must be set (an empty value is allowed: HTTPS_PORT_SUFFIX is empty
# when the public HTTPS port is 443).
shell_format=""
for name in $TEMPLATE_VARS; do
    eval "is_set=\${$name+yes}"
    [ "$is_set" = yes ] || die "$name is not set"
    export "$name"
    shell_format="$shell_format \${$name}"
done

mkdir -p "$RUN_DIR"
for template in "$TEMPLATE_DIR"/*.template; do
    target="$RUN_DIR/$(basename "$template" .template)"
    envsubst "$shell_format" < "$template" > "$target"
done

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
# -e stderr: nginx would otherwise open Debian's /var/log/nginx/error.log, which a non-root
# user may not, before it reads the configuration (whose error_log is stderr too).
exec nginx -e stderr -c "$RUN_DIR/nginx.conf"
