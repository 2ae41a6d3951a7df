"""The validated serializer base: every API write validates through the model's full_clean()."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers


class ValidatedModelSerializer(serializers.ModelSerializer):
    # One rule, three doors: forms, the API and imports all end in ``Model.full_clean()``.
    # (A comment, not a docstring: drf-spectacular would publish a docstring as the description
    # of every serializer without one of its own. Their docstrings are the API's documentation,
    # shown at /api/docs/, and so in Chinese.)

    def include_extra_kwargs(self, kwargs, extra_kwargs):
        # DRF drops allow_blank from a read-only field, and with it drf-spectacular drops ""
        # from a choice field's enum in the schema, though the field still answers "" (an
        # organization that is no branch has no 支部类型): a generated client would refuse it.
        blank = kwargs.get("allow_blank", False) and "choices" in kwargs
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if blank:
            kwargs["allow_blank"] = True
        return kwargs

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = self.instance or self.Meta.model()
        for field, value in attrs.items():
            if not isinstance(getattr(type(instance), field, None), property):
                setattr(instance, field, value)
        try:
            instance.full_clean(validate_unique=True)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return attrs
