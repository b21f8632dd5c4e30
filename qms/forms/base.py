from django import forms
from django.core.exceptions import ValidationError


def form_data(request):
    """What a view's form is bound to: the body of a POST, even an empty one (so that it is told what is
    missing instead of being shown the blank form again), and nothing on a GET."""
    return request.POST if request.method == "POST" else None


def apply_validation_error(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: on its field when the form has one, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
