#!/bin/sh
# El proxy: escribe la configuración de nginx con los ajustes del servidor y lo arranca en primer
# plano (docker stop → SIGTERM → nginx termina lo que está sirviendo y sale). Todo en /tmp.
set -eu
mkdir -p /tmp/nginx
python -m server.proxy_conf /app/docker/nginx.conf > /tmp/nginx/nginx.conf
echo "proxy: nginx delante de ${UPSTREAM:-server:8000}, escuchando en el puerto 8000"
# -e stderr: ni siquiera al arrancar intenta abrir /var/log/nginx (no se puede escribir allí).
exec nginx -e stderr -c /tmp/nginx/nginx.conf -g 'daemon off;'
