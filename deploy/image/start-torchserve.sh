#!/bin/sh
# Start TorchServe in the foreground of a container and stop it cleanly on SIGTERM.
#
# The server's settings are conf/serve/config.properties followed by override.properties when a
# deployment mounts one beside it (Kubernetes and Compose bind 0.0.0.0 there); a later key wins in
# a Java properties file. TorchServe writes key_file.json to the working directory, so that
# directory must be writable.
set -eu

CONFIG_DIR=${TS_CONFIG_DIR:-/etc/torchserve}
MODEL_STORE=${MODEL_STORE:-/srv/model-store}
MODELS=${TS_MODELS:-intent_classifier=intent_classifier.mar}

cat "$CONFIG_DIR/config.properties" > config.properties
if [ -f "$CONFIG_DIR/override.properties" ]; then
	cat "$CONFIG_DIR/override.properties" >> config.properties
fi

# shellcheck disable=SC2086 # MODELS is a space-separated list of name=file.mar
torchserve --start --foreground --ncs \
	--ts-config config.properties \
	--log-config "$CONFIG_DIR/log4j2.xml" \
	--model-store "$MODEL_STORE" \
	--models $MODELS &
launcher=$!

# The launcher exits on SIGTERM without waiting for the Java frontend it started; `--stop`
# stops the frontend and its workers, waits for them and deletes key_file.json.
trap 'torchserve --stop --foreground' TERM INT

status=0
wait "$launcher" || status=$?
# A trapped signal ends the first wait early; this one returns once TorchServe has stopped.
if kill -0 "$launcher" 2>/dev/null; then
	wait "$launcher" || status=$?
fi
exit "$status"
