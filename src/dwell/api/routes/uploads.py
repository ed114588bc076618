"""(Routes pending.)"""

from fastapi import APIRouter

router = APIRouter()
