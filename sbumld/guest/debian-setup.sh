#!/bin/sh
# SPDX-License-Identifier: MIT
# debian-setup.sh ROOT
#
# mkdebian.sh's mmdebstrap customize hook: makes the Debian tree at ROOT
# boot under sbuml's UML kernel to multi-user.target with no failed unit and
# a root login on the console.  Each step says why; README.md in this
# directory ("Debian images") is the user's view of the same list.
set -eu
R=$1
[ -d "$R/etc/systemd" ] || { echo "debian-setup.sh: $R is no systemd tree" >&2; exit 1; }

# Root logs in on the console without a password.  The console is reached
# only through sbumld, which lets a caller attach to its own machines only
# (doc/rpc.md, "Who may call what"); the machine runs no network service
# (no sshd, nothing listening), only a DHCP client when it has eth0.
chroot "$R" passwd -d root >/dev/null

# UML's console is /dev/console (tty0); sbumld connects it to console.log
# and the attachable endpoint.  console-getty.service runs agetty there.
# The VT gettys would sit on UML's null tty1..tty6; getty-static.service
# would start them again; systemd-firstboot would prompt on the console
# for locale and time zone on the first boot (an empty machine-id) and
# stop the boot until answered.
systemctl --root="$R" --quiet enable console-getty.service
systemctl --root="$R" --quiet mask getty@tty1.service autovt@tty1.service \
    getty-static.service systemd-firstboot.service

# multi-user.target, not graphical.target: there is no display.
# e2scrub checks LVM snapshots of ext4 volumes; a machine has no LVM.
systemctl --root="$R" --quiet set-default multi-user.target
systemctl --root="$R" --quiet mask e2scrub_reap.service e2scrub_all.timer

# sbumld halts a machine with ctrl-alt-del (mconsole cad), which systemd
# maps to ctrl-alt-del.target, by default a reboot: make it a power-off.
ln -sf /lib/systemd/system/poweroff.target "$R/etc/systemd/system/ctrl-alt-del.target"

# The root file system: UML's first block device, which sbumld backs with
# the image plus a copy-on-write overlay per machine.  fsck pass 0: the
# image is never written and the overlay is journalled ext4; a fsck at
# every boot only costs time.
printf '/dev/ubda\t/\text4\tdefaults,noatime\t0\t0\n' > "$R/etc/fstab"

# Empty machine-id: every machine booted from the image makes its own on
# its first boot (and keeps it in its overlay).  Clones restored from one
# snapshot are the same running system and so share the saved machine's.
: > "$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"

# mkdebian.sh writes the image's own name into both in each copy.
echo debian > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n' > "$R/etc/hosts"

# A machine on a network (sbumld's tap, eth0) gets its address by DHCP from
# the network's dnsmasq, with systemd-networkd (part of Debian's systemd).
# The client identifier is the MAC, not the DUID made from the machine-id:
# clones restored from one snapshot share the machine-id but each has a
# MAC of its own, so each gets its own address; networkd asks again when
# the carrier comes back (the kernel bounces it when a clone's MAC is set).
# Nothing waits for the network (wait-online would hold the boot for two
# minutes on a machine without one, --net none).
mkdir -p "$R/etc/systemd/network"
cat > "$R/etc/systemd/network/20-sbuml-eth0.network" <<'NETWORK'
# sbuml: eth0 is the machine's NIC on an sbumld network (doc/rpc.md).
[Match]
Name=eth0

[Network]
DHCP=ipv4

[DHCPv4]
ClientIdentifier=mac
NETWORK
systemctl --root="$R" --quiet enable systemd-networkd.service
systemctl --root="$R" --quiet mask systemd-networkd-wait-online.service

# Nothing else waits for a network.
# Say on the console once start-up is over, and how it ended: the line
# sbuml's tests and users look for (`systemctl is-system-running`).
cat > "$R/usr/local/sbin/sbuml-boot-status" <<'EOF'
#!/bin/sh
# Print how systemd's start-up ended, once it has (sbuml images).
# Straight to the console: the line must not depend on journald.
exec >/dev/console 2>&1
# Polled, not --wait: that waits for a bus signal, a dependency the
# answer should not have.
while state=$(systemctl is-system-running 2>/dev/null)
	[ "$state" = initializing ] || [ "$state" = starting ]; do
	sleep 1
done
echo "sbuml-guest: system $state ($(systemctl show -P Id default.target) $(systemctl is-active default.target))"
if [ "$state" != running ]; then
	systemctl --failed --plain --no-legend --no-pager | sed 's/^/sbuml-guest: failed /'
fi
EOF
chmod 0755 "$R/usr/local/sbin/sbuml-boot-status"
cat > "$R/etc/systemd/system/sbuml-boot-status.service" <<'EOF'
[Unit]
Description=Report the end of start-up on the console (sbuml)
After=multi-user.target

[Service]
# exec, not oneshot: a oneshot's start job would keep the boot from
# finishing, and so is-system-running --wait from answering.
Type=exec
ExecStart=/usr/local/sbin/sbuml-boot-status
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
systemctl --root="$R" --quiet enable sbuml-boot-status.service

# apt's lists are not needed to boot and make the image 40 MB bigger.
rm -rf "$R/var/lib/apt/lists/"*
