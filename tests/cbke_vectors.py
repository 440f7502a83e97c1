"""Published CBKE test vectors: ZigBee Smart Energy Standard (07-5356), Annex C.5 (crypto suite 1, sect163k1) and
Annex C.6 (crypto suite 2, sect283k1) example key establishments. U is the initiator, V the responder; hex is most
significant octet first, as printed there. Item names follow the annex: C.5.1 / C.6.1 the CA and the two devices'
static data, C.5.2 / C.6.2 the ephemeral data and messages, C.5.3 / C.6.3 the shared secret, derived keys and MACs.

Other published facts used by the tests: the SEC 2 v2.0 domain parameters (§3.2.1 sect163k1, §3.5.1 sect283k1,
kept in zigbee/cbke/curves.py) and the Silicon Labs install-code example already cited by chf/install_code.py
(83FED340…D505 followed by its CRC octets C3 B5 hashes under AES-MMO to 66B69009…02BB).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnnexExample:
    """One Annex C example, every value as published."""

    annex: str
    ca_public_key: str
    v_certificate: str
    v_static_private: str
    v_public_key: str
    u_certificate: str
    u_static_private: str
    u_public_key: str
    v_ephemeral_private: str
    qev: str
    u_ephemeral_private: str
    qeu: str
    z: str
    mac_key: str
    key_data: str
    macu: str
    macv: str
    u_subject: str
    v_subject: str
    initiate_request_prefix: str


C5 = AnnexExample(
    annex="SE Annex C.5 (suite 1)",
    ca_public_key="0200FDE8A7F3D1084224962A4E7C54E69AC3F04DA6B8",
    v_certificate="03045FDFC8D85FFB8B3993CB72DDCAA55F00B3E87D6D0000000000000001544553545345434101090006000000000000",
    v_static_private="00B8A900FCADEBABBFA383B540FCE9ED438395EAA7",
    v_public_key="030290A1F5C08DAD5F2945E335620C7A98FAC46666A1",
    u_certificate="020615E07D30ECA2DAD58002E667D94BC1B4223983070000000000000002544553545345434101090006000000000000",
    u_static_private="01E9DDB5580CF72ECE7F215F0AE594E48DF3E7FEE8",
    u_public_key="03025BBA38D0C7B5436B68DF728F093E7A1D6C437E6D",
    v_ephemeral_private="03D48C7210DDBCC4FB2E5E7A0AA16A0DB89540820B",
    qev="0306AB52062201D995B8B8591F3F086A3A2E214D845E",
    u_ephemeral_private="0013D36DE4B1EA8E22739C381370823F404BFF8862",
    qeu="0300E117C86D0E7CD128B2F34E9076CFF24AF46D7288",
    z="00E0D2C3CCD5C106A89C4F6CC26A5F7EC9DF78A7BE",
    mac_key="90F967B22C8357C10C1C04788DE9E848",
    key_data="86D58AAA998E2FAEFAF9FEF49606543A",
    macu="B82F1F9774740C32F80FCFC3921B6420",
    macv="79D5F2AD1C31D4D1EE7CB719AC683C3C",
    u_subject="0000000000000002",
    v_subject="0000000000000001",
    initiate_request_prefix="01000306",  # C.5.2.1: suite 1, Ephemeral Data Generate Time 3 s, Confirm Key 6 s
)

C6 = AnnexExample(
    annex="SE Annex C.6 (suite 2)",
    ca_public_key="0207A445022D9F39F49BDC38380026A27A9E0A1799313AB28C5C1A1C6B605154DB1DFF6752",
    v_certificate="002622A505E8938F270D081112131415161718005292A35BFFFFFFFF0A0B0C0D0E0F1011880303B4E9DC543A64333C9823"
                  "08022B54E67E2F15F532551B0A11E2E2C1C1D3097A4324E7ED",
    v_static_private="0151CD0DBCB80474BF7AC9FEEBE39C7A32A63518938FCA9754AAE132BC9C73BE94A7E1BE",
    v_public_key="0202F4FA2A3040433C6820299D182A1042E41404E337C57F47716B42DFAF970F1580A04C9B",
    u_certificate="0084A933B37F018DEC0D081112131415161718005292A38AFFFFFFFF0A0B0C0D0E0F10128803076277E2F7E2252B16A0E9"
                  "2B6E8771BB3F207946CBD4A45D9A9DF6EDAB8C796A48E89DEC",
    u_static_private="00F2561ADB39EF49C1D62EF5186C6E0C158A5A45BFCE38660931ACC3694592D5ACDE9006",
    u_public_key="03030E56F7ADE866E76372764BA20A9FF1FE4CAE522F94839E70F2ADFC1CA3E97F4DDCAF2E",
    v_ephemeral_private="03D48C7210DDBCC4FB2E5E7A0AA16A0DB89540820B8DC091AB521EA824AFE117CADE995B",
    qev="03009A5131CF5B92A016378C0F7F284ECD47F94010F875D43BF1E9A65474ADBFC63696A930",
    u_ephemeral_private="0013D36DE4B1EA8E22739C381370823F404BFF8862B521FECA9871FB3691846D361304B4",
    qeu="0305F3394E15680660EECAA36788D9B6F312B971CE2C9617570BF7DFCD21C972017762C332",
    z="04F7724A9A77B21D2747CCEF68A457E45246C4BE9F66FD9425227BCB2CC5180EA9CCCB9A",
    mac_key="ED380A00296600FB6B893025DE5FD137",
    key_data="AA4689C70BE0FAF0C9BE534ABD9F4CDC",
    macu="BF7E1A26D4EF7038B56813E465A131C9",
    macv="C5B432A9995A092F4449F83613930064",
    u_subject="0A0B0C0D0E0F1012",
    v_subject="0A0B0C0D0E0F1011",
    initiate_request_prefix="02000306",  # suite 2, with the C.5 times (the machines' timing is ours to choose)
)

EXAMPLES = (C5, C6)

# C.6.1.2, the responder's certificate, parsed (SE Annex C.4.2.3.3 layout)
C6_V_FIELDS = {
    "serial": "2622A505E8938F27",
    "issuer": "1112131415161718",
    "valid_from": 0x5292A35B,  # 2013-11-25 01:09:47 UTC
    "valid_to": 0xFFFFFFFF,
    "subject": "0A0B0C0D0E0F1011",
    "key_usage": 0x88,
}
C5_ISSUER = b"TESTSECA"  # C.5.1: issuer 5445535453454341 of both certificates

INSTALL_CODE_WITH_CRC = "83FED3407A939723A5C639B26916D505C3B5"
INSTALL_CODE_KEY = "66B6900981E1EE3CA4206B6B861C02BB"
