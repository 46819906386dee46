"""Payment channels of the fare collection system, and the names exports use for them.

Fare systems in China export either these codes or Chinese labels; both are accepted so that an
export can be posted as it is.  Whether a channel counts as electronic payment for indicator 8
is a setting (``fares.electronic_channels``), not a property of the channel: the bureau decides.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    TUNION_CARD = "tunion_card"  # 交通联合 interoperable transit card
    LOCAL_CARD = "local_card"  # local IC card
    UNIONPAY_NFC = "unionpay_nfc"  # bank card or phone tapped (银联闪付)
    UNIONPAY_QR = "unionpay_qr"  # 银联二维码
    ALIPAY = "alipay"  # 支付宝乘车码
    WECHAT = "wechat"  # 微信乘车码
    MOT_QR = "mot_qr"  # 交通运输部 national transit QR code
    CASH = "cash"  # 现金 (fare box)
    FREE_PASS = "free_pass"  # 免费 (elderly, disabled, veterans ...)


CHANNEL_NAMES_ZH: dict[Channel, str] = {
    Channel.TUNION_CARD: "交通联合卡",
    Channel.LOCAL_CARD: "本地公交卡",
    Channel.UNIONPAY_NFC: "银联闪付",
    Channel.UNIONPAY_QR: "银联二维码",
    Channel.ALIPAY: "支付宝",
    Channel.WECHAT: "微信",
    Channel.MOT_QR: "交通运输部二维码",
    Channel.CASH: "现金",
    Channel.FREE_PASS: "免费乘车",
}

CHANNEL_NAMES_EN: dict[Channel, str] = {
    Channel.TUNION_CARD: "T-Union card",
    Channel.LOCAL_CARD: "Local transit card",
    Channel.UNIONPAY_NFC: "UnionPay NFC",
    Channel.UNIONPAY_QR: "UnionPay QR",
    Channel.ALIPAY: "Alipay",
    Channel.WECHAT: "WeChat Pay",
    Channel.MOT_QR: "MOT transit QR",
    Channel.CASH: "Cash",
    Channel.FREE_PASS: "Free pass",
}

#: Other spellings found in exports, lower-cased, mapped to the channel.
ALIASES: dict[str, Channel] = {
    "交通联合": Channel.TUNION_CARD,
    "交通联合卡": Channel.TUNION_CARD,
    "t-union": Channel.TUNION_CARD,
    "tunion": Channel.TUNION_CARD,
    "公交卡": Channel.LOCAL_CARD,
    "本地卡": Channel.LOCAL_CARD,
    "本地公交卡": Channel.LOCAL_CARD,
    "ic卡": Channel.LOCAL_CARD,
    "银联闪付": Channel.UNIONPAY_NFC,
    "闪付": Channel.UNIONPAY_NFC,
    "银联二维码": Channel.UNIONPAY_QR,
    "云闪付": Channel.UNIONPAY_QR,
    "支付宝": Channel.ALIPAY,
    "微信": Channel.WECHAT,
    "wechat_pay": Channel.WECHAT,
    "weixin": Channel.WECHAT,
    "交通运输部二维码": Channel.MOT_QR,
    "交通运输部": Channel.MOT_QR,
    "现金": Channel.CASH,
    "投币": Channel.CASH,
    "免费": Channel.FREE_PASS,
    "免费乘车": Channel.FREE_PASS,
}


def channel_lookup() -> dict[str, Channel]:
    """Every accepted spelling (lower case, trimmed) to its channel."""
    table = {c.value: c for c in Channel}
    table.update(ALIASES)
    return table


def find_channel(text: str) -> Channel | None:
    return channel_lookup().get(text.strip().lower())


def channel_label(channel: str) -> str:
    """``微信 WeChat Pay``: Chinese first, for reports."""
    try:
        c = Channel(channel)
    except ValueError:
        return channel
    return f"{CHANNEL_NAMES_ZH[c]} {CHANNEL_NAMES_EN[c]}"
