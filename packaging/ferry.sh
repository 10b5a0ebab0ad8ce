#!/bin/sh
# Ferry's command, as installed: the jar and the Java runtime made for it (jlink) live in
# ../lib/ferry beside this script, wherever the package was unpacked.
here=$(dirname "$(readlink -f "$0")")
lib="$here/../lib/ferry"
exec "$lib/runtime/bin/java" @JVM_OPTIONS@ -jar "$lib/ferry.jar" "$@"
