"""The API's OpenAPI schema class: the refusals each read answers, besides its data. (Apart
from schema.py, which authentication imports: this one imports DRF's views.)"""

from drf_spectacular.openapi import AutoSchema

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "原因"}},
    "required": ["detail"],
}
_FIELD_ERRORS = {
    "type": "object",
    "description": "参数名 → 该参数被拒绝的原因",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


class PortalAutoSchema(AutoSchema):
    """drf-spectacular's schema, with the refusals each read answers besides its data."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        refusals = {
            "401": (_DETAIL, "令牌未提供、无效、已过期或已吊销（或未登录）"),
            "404": (_DETAIL, "对象不存在或不在令牌范围内；或分页游标无效"),
            "429": (_DETAIL, "调用过于频繁，或此地址的令牌验证失败过多；Retry-After 给出等待秒数"),
        }
        if self._is_list_view():
            refusals["400"] = (_FIELD_ERRORS, "筛选条件无效：按参数给出原因")
        for code, (schema, description) in refusals.items():
            responses.setdefault(
                code,
                {"content": {"application/json": {"schema": schema}}, "description": description},
            )
        return dict(sorted(responses.items()))
