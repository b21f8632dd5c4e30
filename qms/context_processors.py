from django.utils import timezone


def portal(request):
    return {"current_zone": timezone.get_current_timezone_name()}
