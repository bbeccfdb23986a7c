"""The console's two languages and its clock. Vietnamese is the default (the province's
staff); English for integrators and outside auditors. Times are stored in UTC and shown in
Asia/Ho_Chi_Minh, with the UTC time on hover, so an admin compares them with the wall clock
and a partner's log alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

__all__ = ["LANGUAGES", "LOCAL", "cell", "duration", "local_time", "parse_local", "translate"]

LANGUAGES = ("vi", "en")
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")

# key: (Vietnamese, English)
TEXT: dict[str, tuple[str, str]] = {
    "title": ("Bảng điều khiển LGSP", "LGSP console"),
    "overview": ("Tổng quan", "Overview"),
    "messages": ("Thông điệp", "Messages"),
    "dead_letters": ("Thư chết", "Dead letters"),
    "registry": ("Danh mục", "Registry"),
    "denials": ("Từ chối truy cập", "Denials"),
    "audit": ("Nhật ký kiểm toán", "Audit log"),
    "logout": ("Đăng xuất", "Log out"),
    "login": ("Đăng nhập", "Log in"),
    "api_key": ("Khóa API quản trị", "Admin API key"),
    "login_hint": (
        "Dùng khóa API của một hệ thống quản trị (tệp admin.key của hub).",
        "Use the API key of an admin system (the hub's admin.key file).",
    ),
    "signed_in_as": ("Đăng nhập với", "Signed in as"),
    "last_hour": ("1 giờ qua", "Last hour"),
    "last_day": ("24 giờ qua", "Last 24 hours"),
    "per_minute": ("thông điệp/phút", "messages/min"),
    "received": ("Đã nhận", "Received"),
    "error_rate": ("Tỷ lệ lỗi", "Error rate"),
    "in_queue": ("Đang chờ gửi", "Waiting in queues"),
    "connectors": ("Kết nối", "Connectors"),
    "connector": ("Kết nối", "Connector"),
    "circuit": ("Mạch", "Circuit"),
    "last_success": ("Thành công gần nhất (1 giờ)", "Last success (1 h)"),
    "last_failure": ("Lỗi gần nhất (1 giờ)", "Last failure (1 h)"),
    "latency": ("Độ trễ (ms) tb/max (1 giờ)", "Latency (ms) avg/max (1 h)"),
    "queue": ("Hàng đợi", "Queue"),
    "by_service": ("Theo dịch vụ", "By service"),
    "service": ("Dịch vụ", "Service"),
    "status": ("Trạng thái", "Status"),
    "sender": ("Bên gửi", "Sender"),
    "recipient": ("Bên nhận", "Recipient"),
    "message_id": ("Mã thông điệp", "Message id"),
    "document_id": ("Mã văn bản", "Document id"),
    "since": ("Từ", "From"),
    "until": ("Đến", "Until"),
    "search": ("Tìm", "Search"),
    "next_page": ("Trang sau", "Next page"),
    "first_page": ("Trang đầu", "First page"),
    "nothing": ("Không có kết quả.", "Nothing found."),
    "created": ("Thời điểm", "Time"),
    "size": ("Kích thước", "Size"),
    "trace": ("Diễn biến", "Trace"),
    "deliveries": ("Các lần chuyển", "Deliveries"),
    "route": ("Tuyến", "Route"),
    "mapping": ("Ánh xạ", "Mapping"),
    "attempt": ("Lần", "Attempt"),
    "attempts": ("Số lần", "Attempts"),
    "duration": ("Thời lượng", "Duration"),
    "remote_status": ("Phản hồi đối tác", "Partner status"),
    "error": ("Lỗi", "Error"),
    "details": ("Chi tiết", "Details"),
    "event": ("Bước", "Step"),
    "payload": ("Nội dung (đã che dữ liệu cá nhân)", "Payload (personal data masked)"),
    "answer": ("Trả lời của đối tác", "Partner's answer"),
    "trace_intact": ("Chuỗi băm nguyên vẹn", "Hash chain intact"),
    "trace_broken": ("Chuỗi băm bị sửa", "Hash chain broken"),
    "document": ("Văn bản (edXML)", "Document (edXML)"),
    "feedback": ("Phản hồi theo nơi nhận", "Status by recipient"),
    "replay": ("Gửi lại", "Replay"),
    "replay_selected": ("Gửi lại các mục đã chọn", "Replay selected"),
    "discard": ("Hủy bỏ", "Discard"),
    "reason": ("Lý do", "Reason"),
    "replayed": ("Đã đưa lại vào hàng đợi", "Queued again"),
    "discarded": ("Đã hủy", "Discarded"),
    "no_dead_letters": ("Không có thư chết.", "No dead letters."),
    "agencies": ("Cơ quan", "Agencies"),
    "systems": ("Hệ thống", "Systems"),
    "services": ("Dịch vụ", "Services"),
    "access_rules": ("Quyền truy cập", "Access rules"),
    "routes": ("Tuyến", "Routes"),
    "edit": ("Sửa", "Edit"),
    "save": ("Lưu", "Save"),
    "saved": ("Đã lưu", "Saved"),
    "enabled": ("Bật", "Enabled"),
    "rotate_key": ("Cấp khóa mới", "Rotate key"),
    "new_key_once": (
        "Khóa mới — chỉ hiển thị một lần, hãy lưu ngay:",
        "New key — shown this once, store it now:",
    ),
    "code": ("Mã", "Code"),
    "name": ("Tên", "Name"),
    "level": ("Cấp", "Level"),
    "state": ("Tình trạng", "State"),
    "actor": ("Người thực hiện", "Actor"),
    "action": ("Thao tác", "Action"),
    "target": ("Đối tượng", "Target"),
    "system": ("Hệ thống", "System"),
    "count": ("Số lần", "Count"),
    "address": ("Địa chỉ", "Address"),
    "refresh": ("Làm mới", "Refresh"),
    "error_page": ("Không thực hiện được", "That did not work"),
    "back": ("Quay lại", "Back"),
    "type": ("Loại", "Type"),
    "recipients": ("Nơi nhận", "Recipients"),
    "condition": ("Điều kiện", "Condition"),
    "priority": ("Ưu tiên", "Priority"),
    "headers": ("Tiêu đề", "Header"),
    "since_previous": ("Sau bước trước", "Since the step before"),
}


def translate(key: str, language: str) -> str:
    vi, en = TEXT.get(key, (key, key))
    return en if language == "en" else vi


def local_time(value: datetime | None, seconds: bool = True) -> Markup:
    """``<time>`` in Ho Chi Minh City time, the UTC instant on hover and in ``datetime``."""
    if value is None:
        return Markup("—")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    utc = value.astimezone(UTC)
    shown = value.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M:%S" if seconds else "%d/%m %H:%M")
    return Markup('<time datetime="{0}" title="UTC {1}">{2}</time>').format(
        escape(utc.isoformat()), escape(utc.strftime("%Y-%m-%d %H:%M:%S")), escape(shown)
    )


def cell(value: Any, limit: int = 80) -> Markup:
    """A registry value as a table shows it: times local, structures as JSON (cut at
    ``limit``), yes/no as ✓/✗, nothing as a dash; always escaped."""
    if value is None or value == "":
        return Markup("—")
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, bool):
        return Markup("✓" if value else "✗")
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        cut = text if len(text) <= limit else text[: limit - 1] + "…"
        return Markup("<code>{0}</code>").format(cut)
    return Markup("{0}").format(value)


def duration(ms: float | None) -> str:
    """A duration as people read it: 3.2 ms, 840 ms, 12.5 s, 3 min 20 s, 2 h 5 min."""
    if ms is None:
        return "—"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def parse_local(text: str | None) -> datetime | None:
    """A time typed in the console's form (``datetime-local``: Ho Chi Minh City time) as UTC;
    one with an offset is taken as given. Raises ValueError on anything else."""
    if not text or not text.strip():
        return None
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL)
    return value.astimezone(UTC)
