"""Smart Energy profile (0x0109) frames on a stock zigpy 2.4 `ControllerApplication`.

zigpy parses received ZCL only for the ZHA (0x0104) and ZLL (0xC05E) profiles (`zigpy/device.py`
`Device._parse_packet_header`) and drops the rest, so a GB meter's SE replies never reach zigpy's request
futures (zigpy/zigpy#1709). `SmartEnergyMixin` fixes that in front of any radio class: Tunnelling-cluster
frames (GBCS over the HAN) go to listeners as `tunnel_packet_received(device, packet)`, Key Establishment
frames (CBKE, SE Annex C) as `key_establishment_packet_received(device, packet)`; every other SE ZCL frame is
handed to zigpy as if it were ZHA, whose ZCL encoding is the same (ZCL r8 §2.4).
"""

from __future__ import annotations

import logging

import zigpy.application
import zigpy.device
import zigpy.profiles.zha
import zigpy.types as t
import zigpy.zdo

log = logging.getLogger(__name__)

SE_PROFILE_ID = 0x0109  # ZigBee Smart Energy (ZSE 1.2a, 07-5356-19 §5.2)
TUNNELING_CLUSTER_ID = 0x0704
KEY_ESTABLISHMENT_CLUSTER_ID = 0x0800
LISTENED_CLUSTERS = {TUNNELING_CLUSTER_ID: "tunnel_packet_received",
                     KEY_ESTABLISHMENT_CLUSTER_ID: "key_establishment_packet_received"}
"""SE clusters whose frames go to the listeners (the `ZigpyHan`), not to zigpy's ZCL handling."""


def is_se_zcl(packet: t.ZigbeePacket) -> bool:
    return packet.profile_id == SE_PROFILE_ID and zigpy.zdo.ZDO_ENDPOINT not in (packet.src_ep, packet.dst_ep)


class SmartEnergyMixin:
    """Put first in the bases of a `ControllerApplication` subclass (`se_app_class` does it for any radio)."""

    def packet_received(self, packet: t.ZigbeePacket) -> None:
        app: zigpy.application.ControllerApplication = self  # type: ignore[assignment]
        if is_se_zcl(packet):
            event = LISTENED_CLUSTERS.get(int(packet.cluster_id))
            if event is not None:
                try:
                    device = app.get_device_with_address(packet.src)
                except KeyError:
                    log.debug("cluster 0x%04X frame from unknown %r dropped", int(packet.cluster_id), packet.src)
                    return None
                if isinstance(device, zigpy.device.Device):
                    device.last_seen = packet.timestamp
                    if packet.lqi is not None:
                        device.lqi = packet.lqi
                    if packet.rssi is not None:
                        device.rssi = packet.rssi
                app.listener_event(event, device, packet)
                return None
            packet = packet.replace(profile_id=zigpy.profiles.zha.PROFILE_ID)
        return super().packet_received(packet)  # type: ignore[misc]


def se_app_class(cls: type[zigpy.application.ControllerApplication]) -> type[zigpy.application.ControllerApplication]:
    """The radio class `cls` (bellows, zigpy-znp, zigpy-deconz, VirtualRadio) with Smart Energy reception."""
    if issubclass(cls, SmartEnergyMixin):
        return cls
    return type(f"SmartEnergy{cls.__name__}", (SmartEnergyMixin, cls), {})
