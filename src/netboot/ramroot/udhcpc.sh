#!/bin/sh
# udhcpc runs this with deconfig|bound|renew|leasefail|nak and the lease in the environment; it
# configures $interface from the lease and writes /etc/resolv.conf.
case "$1" in
deconfig)
  ip addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
  if [ -n "$router" ]; then
    while ip route del default 2>/dev/null; do :; done
    for gateway in $router; do
      ip route add default via "$gateway" dev "$interface" && break
    done
  fi
  : >/etc/resolv.conf
  [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
  for server in $dns; do echo "nameserver $server" >>/etc/resolv.conf; done
  echo "rootstock-netboot: $interface has $ip/${mask:-24}, router ${router:-none}, DNS ${dns:-none}"
  ;;
esac
exit 0
