# syntax=docker/dockerfile:1
#
# The compose stack's demo SSH target (resource `demo`): OpenSSH on port 22
# with the user demo (password demo). It is published nowhere; only the agent
# reaches it, so the way in is `bamfctl ssh demo@demo`. Host keys are made on
# the container's first start, not baked into the image. DEMO_SSH_PUBLIC_KEY,
# when set, becomes demo's authorized_keys, for a log-in without the password.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* \
 && useradd --create-home --shell /bin/bash demo \
 && echo 'demo:demo' | chpasswd \
 && mkdir -p /run/sshd
COPY --chmod=0755 <<'SCRIPT' /usr/local/bin/demo-sshd
#!/bin/sh
set -eu
ssh-keygen -A >/dev/null
if [ -n "${DEMO_SSH_PUBLIC_KEY:-}" ]; then
  install -d -o demo -g demo -m 0700 /home/demo/.ssh
  printf '%s\n' "$DEMO_SSH_PUBLIC_KEY" > /home/demo/.ssh/authorized_keys
  chown demo:demo /home/demo/.ssh/authorized_keys
  chmod 0600 /home/demo/.ssh/authorized_keys
fi
exec /usr/sbin/sshd -D -e
SCRIPT
EXPOSE 22
CMD ["/usr/local/bin/demo-sshd"]
